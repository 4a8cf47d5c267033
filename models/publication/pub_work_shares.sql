{{ config(materialized='incremental', unique_key='quarter', incremental_strategy=incremental_strategy(),
          on_schema_change='fail', meta={'refresh_window': {'column': 'quarter', 'kind': 'quarter'}}) }}
{%- set geo_levels = [('province', 'province_refnis'), ('region', "'02000'")] -%}
{%- set sexes = ['sex_code', "'T'"] -%}
-- One row per quarter × sex (M, F, T) × age band (20-64) × geography (province, Flemish
-- Region): the self-employment share among working residents (main job self-employed or
-- helper) and the part-time share among employees (cumulated working time below 100 %),
-- before disclosure control. Incremental by quarter.
with workers as (

    select quarter, sex_code, age_band, province_refnis, is_self_employed_main_job, has_employee_job,
           is_parttime_employee
    from {{ ref('int_person_quarter') }}
    where age between 20 and 64 and is_working and {{ in_refresh_window('quarter') }}

),

cells as (
{%- for level, geo in geo_levels %}{% set outer = loop %}{% for sex in sexes %}

    select
        quarter, {{ sex }} as sex_code, age_band, '{{ level }}' as geo_level, {{ geo }} as geo_refnis,
        count(*) as n_working,
        sum(case when is_self_employed_main_job then 1 else 0 end) as n_self_employed,
        sum(case when has_employee_job then 1 else 0 end) as n_employees,
        sum(case when is_parttime_employee then 1 else 0 end) as n_parttime_employees
    from workers
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
