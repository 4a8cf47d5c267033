{{ config(materialized='incremental', unique_key='quarter', incremental_strategy=incremental_strategy(),
          on_schema_change='fail', meta={'refresh_window': {'column': 'quarter', 'kind': 'quarter'}}) }}
-- One row per resident person × quarter: the socio-economic position on the last day of the
-- quarter (DWH AM&SB rule, one position per person) with age, sex, geography (2025 REFNIS),
-- nationality and origin group and education level on that date. Residents are the persons in
-- the register snapshot of int_quarters.register_year. Incremental by quarter.
-- Cost: this is the 140 M-row table at 6.9 M persons × 20 quarters. Joins run on the compact
-- person key and the quarter number, age comes from integer birth parts, and every derived
-- flag is computed once (reference/perf/REPORT.md §4).
with quarters as (

    select
        quarter, quarter_seq, quarter_end_date, register_year, quarter_year,
        case quarter_number when 1 then 331 when 2 then 630 when 3 then 930 else 1231 end as quarter_end_mmdd
    from {{ ref('int_quarters') }}
    where {{ in_refresh_window('quarter') }}

),

residents as (

    select
        p.person_id, p.person_key, p.birth_year, p.birth_mmdd, p.sex_code, p.municipality_refnis,
        p.arrondissement_refnis, p.province_refnis, p.nationality_group, p.origin_group, p.register_year,
        q.quarter, q.quarter_seq, q.quarter_end_date, q.quarter_year, q.quarter_end_mmdd
    from {{ ref('int_persons') }} as p
    inner join quarters as q on p.register_year = q.register_year

),

activity as (

    select
        person_key, quarter_seq, sep_seq, has_employee_job, n_employment_lines, gross_wage_eur, parttime_pct,
        is_nwwz, nwwz_category_code, wzw_group_code, placement_status_code, registration_date
    from {{ ref('int_person_quarter_activity') }}
    where {{ in_refresh_window('quarter') }}

),

education as (

    select person_key, valid_from_date, valid_to_date, isced_level, education_level_3
    from {{ ref('int_education_levels') }}

),

joined as (

    select
        r.person_id,
        r.person_key,
        r.quarter,
        r.quarter_seq,
        r.quarter_end_date,
        r.register_year,
        {{ age_from_parts('r.quarter_year', 'r.quarter_end_mmdd', 'r.birth_year', 'r.birth_mmdd') }} as age,
        r.sex_code,
        r.municipality_refnis,
        r.arrondissement_refnis,
        r.province_refnis,
        r.nationality_group,
        r.origin_group,
        coalesce(a.sep_seq, '19') as sep_seq,
        {{ sep_main_group("coalesce(a.sep_seq, '19')") }} as sep_main_group,
        coalesce(a.has_employee_job, false) as has_employee_job,
        coalesce(a.n_employment_lines, 0) as n_employment_lines,
        a.gross_wage_eur,
        a.parttime_pct,
        coalesce(a.is_nwwz, false) as is_nwwz,
        a.nwwz_category_code,
        a.wzw_group_code,
        a.placement_status_code,
        case when a.is_nwwz then {{ dbt.datediff('a.registration_date', 'r.quarter_end_date', 'month') }} end
            as unemployment_duration_months,
        e.isced_level,
        e.education_level_3
    from residents as r
    left join activity as a on r.person_key = a.person_key and r.quarter_seq = a.quarter_seq
    left join education as e
        on r.person_key = e.person_key
        and e.valid_from_date <= r.quarter_end_date
        and (e.valid_to_date is null or e.valid_to_date > r.quarter_end_date)

),

final as (

    select
        ---------- grain
        person_id,
        quarter,
        cast(quarter_seq as {{ dbt.type_int() }}) as quarter_seq,
        quarter_end_date,
        register_year,
        ---------- demography and geography on the reference date
        cast(age as {{ dbt.type_int() }}) as age,
        {{ age_band('age') }} as age_band,
        sex_code,
        municipality_refnis,
        arrondissement_refnis,
        province_refnis,
        nationality_group,
        origin_group,
        isced_level,
        coalesce(education_level_3, 'unknown') as education_level_3,
        ---------- socio-economic position (one per person)
        sep_seq,
        cast(sep_main_group as {{ dbt.type_int() }}) as sep_main_group,
        sep_main_group = 1 as is_working,
        sep_seq in ('02', '03', '05', '06') as is_self_employed_main_job,
        has_employee_job,
        cast(n_employment_lines as {{ dbt.type_int() }}) as n_employment_lines,
        gross_wage_eur,
        parttime_pct,
        has_employee_job and parttime_pct < 100 as is_parttime_employee,
        ---------- registered jobseekers (VDAB, end of the last month of the quarter)
        is_nwwz,
        nwwz_category_code,
        wzw_group_code,
        placement_status_code,
        sep_main_group = 2 or (is_nwwz and sep_main_group <> 1) as is_unemployed,
        cast(unemployment_duration_months as {{ dbt.type_int() }}) as unemployment_duration_months,
        case when unemployment_duration_months is null then null
             when unemployment_duration_months < 6 then 'lt_6_months'
             when unemployment_duration_months < 12 then '6_to_12_months'
             when unemployment_duration_months < 24 then '1_to_2_years'
             else '2_years_or_more' end as unemployment_duration_class,
        ---------- compact join key (integrated layer only)
        person_key
    from joined

)

select * from final
