{{ config(materialized='incremental', unique_key='quarter', incremental_strategy=incremental_strategy(),
          on_schema_change='fail', meta={'refresh_window': {'column': 'quarter', 'kind': 'quarter'}}) }}
{%- set geo_levels = [('municipality', 'municipality_refnis'), ('arrondissement', 'arrondissement_refnis'),
                      ('province', 'province_refnis'), ('region', "'02000'")] -%}
{%- set sexes = [('sex_code'), ("'T'")] -%}
-- One row per quarter × sex (M, F, T) × age band (15-64 in five-year bands) × geography
-- (municipality, arrondissement, province, Flemish Region): employment rate before disclosure
-- control. Numerator: residents working on the last day of the quarter; denominator: all
-- residents. Each person counts once per quarter, so the person counts are distinct
-- contributors. Gross wages of the working residents, with the largest and the two largest
-- contributions, feed the dominance rules. Incremental by quarter.
with panel as (

    select
        quarter_seq, sex, {{ age_band('age') }} as age_band, municipality,
        {{ sep_code_is_working('sep_seq') }} as is_working,
        case when {{ sep_code_is_working('sep_seq') }} then coalesce(gross_wage_eur, 0) end as gross_wage_eur
    from {{ ref('int_person_quarter_compact') }}
    where age between 15 and 64 and {{ in_refresh_window_seq('quarter_seq') }}

),

-- The finest cells, in one aggregate pass over the compact panel (numbers only) with the
-- top-n contributions (perf report §6); labels and the coarser geography are joined to the
-- cells, not to the 140 M rows.
municipal_codes as (

    select
        quarter_seq, sex, age_band, municipality,
        count(*) as n_population,
        sum(case when is_working then 1 else 0 end) as n_working,
        sum(gross_wage_eur) as gross_wage_eur,
        max(gross_wage_eur) as gross_wage_top1_eur,
        {{ top_n_sum('gross_wage_eur', 2) }} as gross_wage_top2_eur
    from panel
    group by quarter_seq, sex, age_band, municipality

),

municipal_cells as (

    select
        q.quarter, {{ code_to_sex('m.sex') }} as sex_code, m.age_band,
        {{ refnis_label('m.municipality') }} as municipality_refnis, g.arrondissement_refnis, g.province_refnis,
        m.n_population, m.n_working, m.gross_wage_eur, m.gross_wage_top1_eur, m.gross_wage_top2_eur
    from municipal_codes as m
    inner join {{ ref('int_quarters') }} as q on m.quarter_seq = q.quarter_seq
    left join {{ ref('refnis_municipality_flanders_2025') }} as g on {{ refnis_label('m.municipality') }} = g.refnis

),

-- A cell's two largest contributions as rows, so coarser cells can take their top two again.
contributions as (

    select quarter, sex_code, age_band, municipality_refnis, arrondissement_refnis, province_refnis,
           gross_wage_top1_eur as wage
    from municipal_cells
    union all
    select quarter, sex_code, age_band, municipality_refnis, arrondissement_refnis, province_refnis,
           gross_wage_top2_eur - gross_wage_top1_eur as wage
    from municipal_cells
    where gross_wage_top2_eur > gross_wage_top1_eur

),

cells as (
{%- for level, geo in geo_levels %}{% set outer = loop %}{% for sex in sexes %}

    select
        t.quarter, t.sex_key as sex_code, t.age_band, '{{ level }}' as geo_level, t.geo_key as geo_refnis,
        t.n_population, t.n_working, t.gross_wage_eur, c.gross_wage_top1_eur, c.gross_wage_top2_eur
    from (
        select quarter, {{ sex }} as sex_key, age_band, {{ geo }} as geo_key,
               sum(n_population) as n_population, sum(n_working) as n_working,
               sum(gross_wage_eur) as gross_wage_eur
        from municipal_cells
        group by quarter, {{ sex }}, age_band, {{ geo }}
    ) as t
    left join (
        select quarter, {{ sex }} as sex_key, age_band, {{ geo }} as geo_key,
               max(wage) as gross_wage_top1_eur, {{ top_n_sum('wage', 2) }} as gross_wage_top2_eur
        from contributions
        group by quarter, {{ sex }}, age_band, {{ geo }}
    ) as c
        on t.quarter = c.quarter and t.sex_key = c.sex_key and t.age_band = c.age_band
        and t.geo_key = c.geo_key
    {%- if not (outer.last and loop.last) %}
    union all
    {%- endif %}
{%- endfor %}{% endfor %}

),

final as (

    select
        {{ publication_cell_keys() }}
        cast(n_working as {{ dbt.type_bigint() }}) as numerator,
        cast(n_population as {{ dbt.type_bigint() }}) as denominator,
        cast(n_working as {{ dbt.type_bigint() }}) as n_persons_numerator,
        cast(n_population as {{ dbt.type_bigint() }}) as n_persons_denominator,
        cast(case when n_population > 0 then cast(100 as double) * n_working / n_population end as double)
            as employment_rate_pct,
        cast(coalesce(gross_wage_eur, 0) as double) as gross_wage_eur,
        cast(coalesce(gross_wage_top1_eur, 0) as double) as gross_wage_top1_eur,
        cast(coalesce(gross_wage_top2_eur, 0) as double) as gross_wage_top2_eur
    from cells
    where geo_refnis is not null

)

select * from final
