{#- The cell key every geography-by-sex-by-age publication table starts with, typed the
    same way in each so the tables stack and join in disclosure/ and publication. -#}
{% macro publication_cell_keys() -%}
        cast(quarter as {{ dbt.type_string() }}) as quarter,
        cast(sex_code as {{ dbt.type_string() }}) as sex_code,
        cast(age_band as {{ dbt.type_string() }}) as age_band,
        cast(geo_level as {{ dbt.type_string() }}) as geo_level,
        cast(geo_refnis as {{ dbt.type_string() }}) as geo_refnis,
{%- endmacro %}
