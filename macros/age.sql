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

{#- Age in whole years from integer parts: the reference year and month*100+day against the
    birth year and month*100+day. Integer arithmetic only, so the 140 M-row panel computes
    age without date functions (int_persons stores the birth parts once per person). -#}
{% macro age_from_parts(reference_year, reference_mmdd, birth_year, birth_mmdd) -%}
    ({{ reference_year }} - {{ birth_year }}
     - case when {{ reference_mmdd }} < {{ birth_mmdd }} then 1 else 0 end)
{%- endmacro %}

{#- Five-year bands from 15 to 64, then 65+; under 15 as '0-14'. Written out as constant
    labels (no string building per row). -#}
{% macro age_band(age) -%}
    case when {{ age }} < 15 then '0-14'
    {%- for lower in range(15, 65, 5) %}
         when {{ age }} < {{ lower + 5 }} then '{{ lower }}-{{ lower + 4 }}'
    {%- endfor %}
         else '65+'
    end
{%- endmacro %}
