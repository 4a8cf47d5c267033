{#- Period arithmetic on the supplier period labels: quarters 'YYYYQn', months 'YYYY-MM'.
    Written with dbt's cross-database macros and ANSI functions only. -#}

{#- floor(): a cast of 11 / 3 to integer rounds (to 4) on some engines. -#}
{% macro month_to_quarter(month) -%}
    concat(substr({{ month }}, 1, 4), 'Q',
           cast(cast(floor((cast(substr({{ month }}, 6, 2) as {{ dbt.type_int() }}) + 2) / 3.0) as {{ dbt.type_int() }}) as {{ dbt.type_string() }}))
{%- endmacro %}

{% macro is_last_month_of_quarter(month) -%}
    substr({{ month }}, 6, 2) in ('03', '06', '09', '12')
{%- endmacro %}

{#- Quarter label -> consecutive integer (year * 4 + quarter - 1), so q - 1 is the previous one. -#}
{% macro quarter_seq(quarter) -%}
    (cast(substr({{ quarter }}, 1, 4) as {{ dbt.type_int() }}) * 4
     + cast(substr({{ quarter }}, 6, 1) as {{ dbt.type_int() }}) - 1)
{%- endmacro %}

{% macro quarter_of_date(date_expr) -%}
    concat(cast(extract(year from {{ date_expr }}) as {{ dbt.type_string() }}), 'Q',
           cast(cast(floor((extract(month from {{ date_expr }}) + 2) / 3.0) as {{ dbt.type_int() }}) as {{ dbt.type_string() }}))
{%- endmacro %}
