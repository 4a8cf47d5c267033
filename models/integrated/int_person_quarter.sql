{{ config(materialized='view', meta={'refresh_window': {'column': 'quarter', 'kind': 'quarter'}}) }}
-- One row per resident person × quarter: the panel of int_person_quarter_compact with the
-- pseudonym, the quarter label and reference date, the person's register attributes as
-- labels and the flags derived from the position. A view: the panel is stored once, compactly,
-- and this adds what readers (sampling, survey linkage, the research panel) need by name.
with panel as (

    select * from {{ ref('int_person_quarter_compact') }}

),

quarters as (

    select quarter, quarter_seq, quarter_end_date, register_year from {{ ref('int_quarters') }}

),

persons as (

    select
        person_key, register_year, person_id, sex_code, municipality_refnis, arrondissement_refnis,
        province_refnis, nationality_group, origin_group
    from {{ ref('int_persons') }}

),

education_levels as (

    select isced_level, education_level_3 from {{ ref('isced2011_levels') }}

),

final as (

    select
        ---------- grain
        p.person_id,
        q.quarter,
        c.quarter_seq,
        q.quarter_end_date,
        q.register_year,
        ---------- demography and geography on the reference date
        cast(c.age as {{ dbt.type_int() }}) as age,
        {{ age_band('c.age') }} as age_band,
        p.sex_code,
        p.municipality_refnis,
        p.arrondissement_refnis,
        p.province_refnis,
        p.nationality_group,
        p.origin_group,
        cast(c.isced_level as {{ dbt.type_int() }}) as isced_level,
        coalesce(e.education_level_3, 'unknown') as education_level_3,
        ---------- socio-economic position (one per person)
        {{ two_digit_label('c.sep_seq') }} as sep_seq,
        cast({{ sep_code_main_group('c.sep_seq') }} as {{ dbt.type_int() }}) as sep_main_group,
        {{ sep_code_is_working('c.sep_seq') }} as is_working,
        {{ sep_code_is_self_employed_main_job('c.sep_seq') }} as is_self_employed_main_job,
        c.n_employment_lines > 0 as has_employee_job,
        cast(c.n_employment_lines as {{ dbt.type_int() }}) as n_employment_lines,
        c.gross_wage_eur,
        c.parttime_pct,
        c.n_employment_lines > 0 and c.parttime_pct < 100 as is_parttime_employee,
        ---------- registered jobseekers (VDAB, end of the last month of the quarter)
        c.nwwz_category_code is not null as is_nwwz,
        c.nwwz_category_code,
        c.wzw_group_code,
        c.placement_status_code,
        {{ sep_code_is_unemployed('c.sep_seq', 'c.nwwz_category_code is not null') }} as is_unemployed,
        cast(c.unemployment_duration_months as {{ dbt.type_int() }}) as unemployment_duration_months,
        {{ unemployment_duration_class('c.unemployment_duration_months') }} as unemployment_duration_class,
        ---------- compact join key (integrated layer only)
        c.person_key
    from panel as c
    inner join quarters as q on c.quarter_seq = q.quarter_seq
    inner join persons as p on c.person_key = p.person_key and q.register_year = p.register_year
    left join education_levels as e on cast(c.isced_level as {{ dbt.type_string() }}) = e.isced_level

)

select * from final
