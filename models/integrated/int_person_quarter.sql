{{ config(materialized='incremental', unique_key='quarter', incremental_strategy=incremental_strategy(),
          on_schema_change='fail') }}
-- One row per resident person × quarter: the socio-economic position on the last day of the
-- quarter (DWH AM&SB rule, one position per person) with age, sex, geography (2025 REFNIS),
-- nationality and origin group and education level on that date. Residents are the persons in
-- the register snapshot of int_quarters.register_year. Incremental by quarter.
with quarters as (

    select * from {{ ref('int_quarters') }}
    where {{ in_refresh_window('quarter') }}

),

residents as (

    select
        p.person_id, p.birth_date, p.sex_code, p.municipality_refnis, p.arrondissement_refnis,
        p.province_refnis, p.nationality_group, p.origin_group, p.register_year,
        q.quarter, q.quarter_seq, q.quarter_end_date
    from {{ ref('int_persons') }} as p
    inner join quarters as q on p.register_year = q.register_year

),

activity as (

    select * from {{ ref('int_person_quarter_activity') }}
    where {{ in_refresh_window('quarter') }}

),

education as (

    select person_id, valid_from_date, valid_to_date, isced_level, education_level_3
    from {{ ref('int_education_levels') }}

),

joined as (

    select
        r.*,
        {{ age_in_years('r.birth_date', 'r.quarter_end_date') }} as age,
        coalesce(a.sep_seq, '19') as sep_seq,
        coalesce(a.has_employee_job, false) as has_employee_job,
        coalesce(a.n_employment_lines, 0) as n_employment_lines,
        a.gross_wage_eur,
        a.parttime_pct,
        coalesce(a.is_nwwz, false) as is_nwwz,
        a.nwwz_category_code,
        a.wzw_group_code,
        a.placement_status_code,
        a.registration_date,
        e.isced_level,
        e.education_level_3
    from residents as r
    left join activity as a on r.person_id = a.person_id and r.quarter = a.quarter
    left join education as e
        on r.person_id = e.person_id
        and e.valid_from_date <= r.quarter_end_date
        and (e.valid_to_date is null or e.valid_to_date > r.quarter_end_date)

),

final as (

    select
        ---------- grain
        person_id,
        quarter,
        quarter_seq,
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
        {{ sep_main_group('sep_seq') }} as sep_main_group,
        {{ sep_main_group('sep_seq') }} = 1 as is_working,
        sep_seq in ('02', '03', '05', '06') as is_self_employed_main_job,
        has_employee_job,
        n_employment_lines,
        gross_wage_eur,
        parttime_pct,
        has_employee_job and parttime_pct < 100 as is_parttime_employee,
        ---------- registered jobseekers (VDAB, end of the last month of the quarter)
        is_nwwz,
        nwwz_category_code,
        wzw_group_code,
        placement_status_code,
        {{ sep_main_group('sep_seq') }} = 2 or (is_nwwz and {{ sep_main_group('sep_seq') }} <> 1) as is_unemployed,
        case when is_nwwz then cast({{ dbt.datediff('registration_date', 'quarter_end_date', 'month') }} as {{ dbt.type_int() }}) end
            as unemployment_duration_months,
        case when not is_nwwz then null
             when {{ dbt.datediff('registration_date', 'quarter_end_date', 'month') }} < 6 then 'lt_6_months'
             when {{ dbt.datediff('registration_date', 'quarter_end_date', 'month') }} < 12 then '6_to_12_months'
             when {{ dbt.datediff('registration_date', 'quarter_end_date', 'month') }} < 24 then '1_to_2_years'
             else '2_years_or_more' end as unemployment_duration_class
    from joined

)

select * from final
