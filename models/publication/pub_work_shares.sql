{{ config(materialized='incremental', unique_key='quarter', incremental_strategy=incremental_strategy(),
          on_schema_change='fail', meta={'refresh_window': {'column': 'quarter', 'kind': 'quarter'}}) }}
{%- set geo_levels = [('province', 'province_refnis'), ('region', "'02000'")] -%}
{%- set sexes = ['sex_code', "'T'"] -%}
-- One row per quarter × sex (M, F, T) × age band (20-64) × geography (province, Flemish
-- Region): the self-employment share among working residents (main job self-employed or
-- helper) and the part-time share among employees (cumulated working time below 100 %),
-- before disclosure control. Incremental by quarter.
with workers as (

    select
        quarter_seq, sex, {{ age_band('age') }} as age_band, municipality,
        case when {{ sep_code_is_self_employed_main_job('sep_seq') }} then 1 else 0 end as is_self_employed,
        case when n_employment_lines > 0 then 1 else 0 end as is_employee,
        case when n_employment_lines > 0 and parttime_pct < 100 then 1 else 0 end as is_parttime_employee
    from {{ ref('int_person_quarter_compact') }}
    where age between 20 and 64 and {{ sep_code_is_working('sep_seq') }} and {{ in_refresh_window_seq('quarter_seq') }}

),

-- One aggregate pass over the compact panel to municipality cells; provinces and labels are
-- joined to these cells.
municipal_cells as (

    select
        quarter_seq, sex, age_band, municipality,
        count(*) as n_working,
        sum(is_self_employed) as n_self_employed,
        sum(is_employee) as n_employees,
        sum(is_parttime_employee) as n_parttime_employees
    from workers
    group by quarter_seq, sex, age_band, municipality

),

labelled as (

    select
        q.quarter, {{ code_to_sex('m.sex') }} as sex_code, m.age_band, g.province_refnis,
        m.n_working, m.n_self_employed, m.n_employees, m.n_parttime_employees
    from municipal_cells as m
    inner join {{ ref('int_quarters') }} as q on m.quarter_seq = q.quarter_seq
    left join {{ ref('refnis_municipality_flanders_2025') }} as g on {{ refnis_label('m.municipality') }} = g.refnis

),

cells as (
{%- for level, geo in geo_levels %}{% set outer = loop %}{% for sex in sexes %}

    select
        quarter, {{ sex }} as sex_code, age_band, '{{ level }}' as geo_level, {{ geo }} as geo_refnis,
        sum(n_working) as n_working,
        sum(n_self_employed) as n_self_employed,
        sum(n_employees) as n_employees,
        sum(n_parttime_employees) as n_parttime_employees
    from labelled
    group by quarter, {{ sex }}, age_band, {{ geo }}
    {%- if not (outer.last and loop.last) %}
    union all
    {%- endif %}
{%- endfor %}{% endfor %}

),

final as (

    select
        {{ publication_cell_keys() }}
        cast(n_working as {{ dbt.type_bigint() }}) as n_working,
        cast(n_self_employed as {{ dbt.type_bigint() }}) as n_self_employed,
        cast(n_employees as {{ dbt.type_bigint() }}) as n_employees,
        cast(n_parttime_employees as {{ dbt.type_bigint() }}) as n_parttime_employees,
        cast(case when n_working > 0 then cast(100 as double) * n_self_employed / n_working end as double)
            as self_employment_share_pct,
        cast(case when n_employees > 0 then cast(100 as double) * n_parttime_employees / n_employees end as double)
            as parttime_share_pct
    from cells
    where geo_refnis is not null

)

select * from final
