{#- Age in whole years on a reference date. DuckDB's date_diff('year') counts year boundaries
    and Spark's counts whole years (reference/warehouse/REPORT.md §4.4), so the default is
    written out with extract(); engines may override it through adapter.dispatch. -#}
{% macro age_in_years(birth_date, reference_date) -%}
    {{ return(adapter.dispatch('age_in_years', 'sdwh')(birth_date, reference_date)) }}
{%- endmacro %}

{% macro default__age_in_years(birth_date, reference_date) -%}
    (extract(year from {{ reference_date }}) - extract(year from {{ birth_date }})
     - case when extract(month from {{ reference_date }}) * 100 + extract(day from {{ reference_date }})
                 < extract(month from {{ birth_date }}) * 100 + extract(day from {{ birth_date }})
            then 1 else 0 end)
{%- endmacro %}

{#- Five-year bands from 15 to 64, then 65+; under 15 as '0-14'. -#}
{% macro age_band(age) -%}
    case when {{ age }} < 15 then '0-14'
         when {{ age }} >= 65 then '65+'
         else concat(cast({{ age }} - mod({{ age }}, 5) as {{ dbt.type_string() }}), '-',
                     cast({{ age }} - mod({{ age }}, 5) + 4 as {{ dbt.type_string() }}))
    end
{%- endmacro %}
