{{ config(materialized='incremental', unique_key='quarter', incremental_strategy=incremental_strategy(),
          on_schema_change='fail', meta={'refresh_window': {'column': 'quarter', 'kind': 'quarter', 'lookback': 4}}) }}
-- One row per resident aged 18-24 × quarter: working, in training (VDAB placement status 2),
-- in education, and NEET (none of the three). "In education" is inferred: a qualification
-- is awarded within the year after the reference date (no enrolment register is delivered),
-- so the latest four quarters are provisional until the next AHOVOKS year arrives.
-- Incremental by quarter with a look-back of four quarters: a year's qualifications (period
-- YYYY, window from YYYYQ1) change the education flag of the four quarters before it.
with youth as (

    select
        pr.person_id, c.person_key, q.quarter, q.quarter_end_date, c.age, pr.sex_code, pr.province_refnis,
        {{ sep_code_is_working('c.sep_seq') }} as is_working, c.placement_status_code
    from {{ ref('int_person_quarter_compact') }} as c
    inner join {{ ref('int_quarters') }} as q on c.quarter_seq = q.quarter_seq
    inner join {{ ref('int_persons') }} as pr on c.person_key = pr.person_key and q.register_year = pr.register_year
    where c.age between 18 and 24 and {{ in_refresh_window_seq('c.quarter_seq', lookback=4) }}

),

awards as (

    select {{ person_key('person_id') }} as person_key, award_date
    from {{ ref('stg_ahovoks__qualifications') }}

),

last_award_year as (

    select max(award_year) as award_year from {{ ref('stg_ahovoks__qualifications') }}

),

in_education as (

    select distinct y.person_key, y.quarter
    from youth as y
    inner join awards as a
        on y.person_key = a.person_key
        and a.award_date > y.quarter_end_date
        and a.award_date <= {{ dbt.dateadd('year', 1, 'y.quarter_end_date') }}

),

final as (

    select
        cast(y.person_id as {{ dbt.type_string() }}) as person_id,
        cast(y.quarter as {{ dbt.type_string() }}) as quarter,
        cast(y.age as {{ dbt.type_int() }}) as age,
        cast(y.sex_code as {{ dbt.type_string() }}) as sex_code,
        cast(y.province_refnis as {{ dbt.type_string() }}) as province_refnis,
        y.is_working,
        coalesce(y.placement_status_code = '2', false) as is_in_training,
        e.person_key is not null as is_in_education,
        not y.is_working and not coalesce(y.placement_status_code = '2', false)
            and e.person_key is null as is_neet,
        extract(year from {{ dbt.dateadd('year', 1, 'y.quarter_end_date') }}) > l.award_year as is_provisional
    from youth as y
    cross join last_award_year as l
    left join in_education as e on y.person_key = e.person_key and y.quarter = e.quarter

)

select * from final
