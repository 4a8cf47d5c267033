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

    select
        quarter_seq, {{ age_band('age') }} as age_band, sex, isced_level, nationality_group, origin_group,
        {{ unemployment_duration_class('unemployment_duration_months') }} as unemployment_duration_class,
        nwwz_category_code is not null as is_nwwz
    from {{ ref('int_person_quarter_compact') }}
    where age between 18 and 64 and ({{ sep_code_is_working('sep_seq') }} or nwwz_category_code is not null)
      and {{ in_refresh_window_seq('quarter_seq') }}

),

-- One aggregate pass over the compact panel to the finest combination of the breakdowns;
-- the breakdowns below add up these few thousand rows, with labels joined to them.
fine_cells as (

    select
        quarter_seq, age_band, sex, isced_level, nationality_group, origin_group, unemployment_duration_class,
        is_nwwz, count(*) as n_persons
    from labour_force
    group by quarter_seq, age_band, sex, isced_level, nationality_group, origin_group, unemployment_duration_class,
             is_nwwz

),

labelled as (

    select
        q.quarter, f.age_band, {{ code_to_sex('f.sex') }} as sex_code,
        coalesce(e.education_level_3, 'unknown') as education_level_3,
        {{ code_to_group('f.nationality_group') }} as nationality_group,
        {{ code_to_group('f.origin_group') }} as origin_group,
        f.unemployment_duration_class, f.is_nwwz, f.n_persons
    from fine_cells as f
    inner join {{ ref('int_quarters') }} as q on f.quarter_seq = q.quarter_seq
    left join {{ ref('isced2011_levels') }} as e on cast(f.isced_level as {{ dbt.type_string() }}) = e.isced_level

),

cells as (
{%- for name, expr in breakdowns %}

    select
        quarter,
        '{{ name }}' as breakdown,
        coalesce(cast({{ expr }} as {{ dbt.type_string() }}), 'unknown') as category,
        sum(case when is_nwwz then n_persons else 0 end) as n_nwwz,
        {% if name == 'unemployment_duration' %}cast(null as {{ dbt.type_bigint() }}){% else %}sum(n_persons){% endif %} as n_labour_force
    from labelled
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
