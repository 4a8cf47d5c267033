{{ config(materialized='incremental', unique_key='quarter_seq', incremental_strategy=incremental_strategy(),
          on_schema_change='fail', meta={'refresh_window': {'column': 'quarter_seq', 'kind': 'quarter_seq'}}) }}
-- One row per resident person × quarter, stored compactly: the socio-economic position on the
-- last day of the quarter (DWH AM&SB rule, one position per person) with age, sex, geography
-- (2025 REFNIS), nationality and origin group and education level on that date, all as small
-- numbers. Residents are the persons in the register snapshot of int_quarters.register_year.
-- Incremental by quarter. This is the 140 M-row table at 6.9 M persons × 20 quarters: it holds
-- no pseudonym, label or derived flag (the view int_person_quarter adds them), because writing
-- repeated strings was most of its cost; thematic and publication models read it directly.
with quarters as (

    select
        quarter_seq, quarter_end_date, register_year, quarter_year,
        case quarter_number when 1 then 331 when 2 then 630 when 3 then 930 else 1231 end as quarter_end_mmdd
    from {{ ref('int_quarters') }}
    where {{ in_refresh_window('quarter') }}

),

residents as (

    select
        p.person_key, p.birth_year, p.birth_mmdd, p.sex_code, p.municipality_refnis,
        p.nationality_group, p.origin_group,
        q.quarter_seq, q.quarter_end_date, q.quarter_year, q.quarter_end_mmdd
    from {{ ref('int_persons') }} as p
    inner join quarters as q on p.register_year = q.register_year

),

activity as (

    select
        person_key, quarter_seq, sep_seq, n_employment_lines, gross_wage_eur, parttime_pct,
        nwwz_category_code, wzw_group_code, placement_status_code, registration_date
    from {{ ref('int_person_quarter_activity') }}
    where {{ in_refresh_window_seq('quarter_seq') }}

),

education as (

    select person_key, valid_from_date, valid_to_date, isced_level
    from {{ ref('int_education_levels') }}

),

final as (

    select
        ---------- grain
        r.person_key,
        cast(r.quarter_seq as {{ dbt.type_int() }}) as quarter_seq,
        ---------- demography and geography on the reference date
        cast({{ age_from_parts('r.quarter_year', 'r.quarter_end_mmdd', 'r.birth_year', 'r.birth_mmdd') }}
             as smallint) as age,
        cast({{ sex_to_code('r.sex_code') }} as smallint) as sex,
        cast(r.municipality_refnis as {{ dbt.type_int() }}) as municipality,
        cast({{ group_to_code('r.nationality_group') }} as smallint) as nationality_group,
        cast({{ group_to_code('r.origin_group') }} as smallint) as origin_group,
        cast(e.isced_level as smallint) as isced_level,
        ---------- socio-economic position (number of the seq, 19 = other)
        cast(coalesce(a.sep_seq, 19) as smallint) as sep_seq,
        cast(coalesce(a.n_employment_lines, 0) as smallint) as n_employment_lines,
        a.gross_wage_eur,
        a.parttime_pct,
        ---------- registered jobseekers (VDAB, end of the last month of the quarter)
        a.nwwz_category_code,
        a.wzw_group_code,
        a.placement_status_code,
        cast(case when a.nwwz_category_code is not null
                  then {{ dbt.datediff('a.registration_date', 'r.quarter_end_date', 'month') }} end
             as smallint) as unemployment_duration_months
    from residents as r
    left join activity as a on r.person_key = a.person_key and r.quarter_seq = a.quarter_seq
    left join education as e
        on r.person_key = e.person_key
        and e.valid_from_date <= r.quarter_end_date
        and (e.valid_to_date is null or e.valid_to_date > r.quarter_end_date)

)

select * from final
