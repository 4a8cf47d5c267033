{{ config(materialized='incremental', unique_key='quarter', incremental_strategy=incremental_strategy(),
          on_schema_change='fail', meta={'refresh_window': {'column': 'quarter', 'kind': 'quarter'}}) }}
{%- set breakdowns = [('total', "'total'"), ('age_band', 'age_band'), ('sex', 'sex_code'),
                      ('education_level', 'education_level_3'), ('nationality_group', 'nationality_group'),
                      ('origin_group', 'origin_group'),
                      ('unemployment_duration', 'unemployment_duration_class')] -%}
-- One row per quarter × breakdown × category: non-working jobseekers (NWWZ, VDAB end of the
-- quarter's last month) aged 18-64 resident in Flanders, before disclosure control, by age
-- band, sex, education level, nationality group, origin group and unemployment duration.
-- Denominator: the labour force in the same category (working or NWWZ); none for duration.
with labour_force as (

    select quarter, age_band, sex_code, education_level_3, nationality_group, origin_group,
           unemployment_duration_class, is_nwwz, is_working
    from {{ ref('int_person_quarter') }}
    where age between 18 and 64 and (is_working or is_nwwz) and {{ in_refresh_window('quarter') }}

),

cells as (
{%- for name, expr in breakdowns %}

    select
        quarter,
        '{{ name }}' as breakdown,
        coalesce(cast({{ expr }} as {{ dbt.type_string() }}), 'unknown') as category,
        sum(case when is_nwwz then 1 else 0 end) as n_nwwz,
        {% if name == 'unemployment_duration' %}cast(null as {{ dbt.type_bigint() }}){% else %}count(*){% endif %} as n_labour_force
    from labour_force
    {% if name == 'unemployment_duration' %}where is_nwwz{% endif %}
    group by quarter, coalesce(cast({{ expr }} as {{ dbt.type_string() }}), 'unknown')
    {%- if not loop.last %}
    union all
    {%- endif %}
{%- endfor %}

),

final as (

    select
        cast(quarter as {{ dbt.type_string() }}) as quarter,
        cast(breakdown as {{ dbt.type_string() }}) as breakdown,
        cast(category as {{ dbt.type_string() }}) as category,
        cast(n_nwwz as {{ dbt.type_bigint() }}) as numerator,
        cast(n_labour_force as {{ dbt.type_bigint() }}) as denominator,
        cast(n_nwwz as {{ dbt.type_bigint() }}) as n_persons_numerator,
        cast(n_labour_force as {{ dbt.type_bigint() }}) as n_persons_denominator,
        cast(case when n_labour_force > 0 then cast(100 as double) * n_nwwz / n_labour_force end as double)
            as nwwz_rate_pct
    from cells

)

select * from final
