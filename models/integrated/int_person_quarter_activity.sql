{{ config(materialized='incremental', unique_key='quarter_seq', incremental_strategy=incremental_strategy(),
          on_schema_change='fail', meta={'refresh_window': {'column': 'quarter_seq', 'kind': 'quarter_seq'}}) }}
-- One row per person × quarter with any social-security activity on the reference date (last
-- day of the quarter), and the socio-economic position it gives by the position priority
-- rule (macro socio_economic_position + seed sep_position_priority). Monthly sources count
-- for the last month of the quarter (VDAB: end-of-month snapshot). Incremental by quarter.
-- Grouped on the compact person key (macro person_key) with compact types (numbers, no
-- pseudonym or labels), since this table and its join into int_person_quarter_compact are
-- among the largest steps of a build; int_persons maps the key back to the pseudonym.
with priority as (

    select sep_seq, priority from {{ ref('sep_position_priority') }}

),

employment as (

    select
        {{ person_key('person_id') }} as person_key,
        quarter,
        1 as n_lines,
        gross_wage_eur,
        parttime_pct
    from {{ ref('stg_rsz__dmfa_employment_lines') }}
    where {{ in_refresh_window('quarter') }}

),

self_employment as (

    select
        {{ person_key('person_id') }} as person_key,
        quarter,
        case when capacity_code in ('2', '4') then 2 else 1 end as self_employed_rank,
        case when activity_type_code = 'HB' then 1 else 0 end as self_employed_main
    from {{ ref('stg_rsvz__selfemployed') }}
    where {{ in_refresh_window('quarter') }}

),

benefits as (

    select
        {{ person_key('b.person_id') }} as person_key,
        {{ month_to_quarter('b.benefit_month') }} as quarter,
        p.priority as non_work_priority
    from {{ ref('stg_rva__unemployment_benefits') }} as b
    inner join {{ ref('rva_benefit_types') }} as t on b.benefit_type_code = t.code
    inner join priority as p on t.sep_seq = p.sep_seq
    where {{ is_last_month_of_quarter('b.benefit_month') }}
      and {{ in_refresh_window_month('b.benefit_month') }}

),

social_integration as (

    select
        {{ person_key('s.person_id') }} as person_key,
        {{ month_to_quarter('s.integration_month') }} as quarter,
        p.priority as non_work_priority
    from {{ ref('stg_podmi__social_integration') }} as s
    inner join priority as p on p.sep_seq = '12'
    where {{ is_last_month_of_quarter('s.integration_month') }}
      and {{ in_refresh_window_month('s.integration_month') }}

),

jobseekers as (

    select
        {{ person_key('person_id') }} as person_key,
        {{ month_to_quarter('snapshot_month') }} as quarter,
        nwwz_category_code,
        wzw_group_code,
        placement_status_code,
        registration_date
    from {{ ref('stg_vdab__jobseekers') }}
    where {{ is_last_month_of_quarter('snapshot_month') }}
      and {{ in_refresh_window_month('snapshot_month') }}

),

-- One aggregate over the stacked source rows instead of one aggregate per source and a
-- chain of 2-key joins (reference/perf/REPORT.md §4).
stacked as (

    select person_key, quarter, n_lines, gross_wage_eur, parttime_pct,
           cast(null as {{ dbt.type_int() }}) as self_employed_rank, cast(null as {{ dbt.type_int() }}) as self_employed_main,
           cast(null as {{ dbt.type_int() }}) as non_work_priority,
           cast(null as {{ dbt.type_string() }}) as nwwz_category_code, cast(null as {{ dbt.type_string() }}) as wzw_group_code,
           cast(null as {{ dbt.type_string() }}) as placement_status_code, cast(null as date) as registration_date
    from employment
    union all
    select person_key, quarter, null, null, null, self_employed_rank, self_employed_main, null, null, null, null, null
    from self_employment
    union all
    select person_key, quarter, null, null, null, null, null, non_work_priority, null, null, null, null
    from benefits
    union all
    select person_key, quarter, null, null, null, null, null, non_work_priority, null, null, null, null
    from social_integration
    union all
    select person_key, quarter, null, null, null, null, null, null, nwwz_category_code, wzw_group_code,
           placement_status_code, registration_date
    from jobseekers

),

per_person as (

    select
        person_key,
        quarter,
        coalesce(sum(n_lines), 0) as n_employment_lines,
        sum(gross_wage_eur) as gross_wage_eur,
        sum(parttime_pct) as parttime_pct_sum,
        min(self_employed_rank) as self_employed_rank,
        max(self_employed_main) as self_employed_main,
        min(non_work_priority) as non_work_priority,
        max(nwwz_category_code) as nwwz_category_code,
        max(wzw_group_code) as wzw_group_code,
        max(placement_status_code) as placement_status_code,
        max(registration_date) as registration_date
    from stacked
    group by person_key, quarter

),

final as (

    select
        a.person_key,
        cast({{ quarter_seq('a.quarter') }} as {{ dbt.type_int() }}) as quarter_seq,
        cast({{ socio_economic_position('a.n_employment_lines > 0', 'a.self_employed_rank',
                                        'a.self_employed_main = 1', 'p.sep_seq') }} as smallint) as sep_seq,
        cast(a.self_employed_rank as smallint) as self_employed_rank,
        a.self_employed_main = 1 as is_self_employed_main_occupation,
        cast(p.sep_seq as smallint) as non_work_sep_seq,
        cast(a.n_employment_lines as smallint) as n_employment_lines,
        cast(a.gross_wage_eur as decimal(18, 2)) as gross_wage_eur,
        case when a.parttime_pct_sum > 100 then 100.0 else a.parttime_pct_sum end as parttime_pct,
        a.nwwz_category_code,
        a.wzw_group_code,
        a.placement_status_code,
        a.registration_date
    from per_person as a
    left join priority as p on a.non_work_priority = p.priority

)

select * from final
