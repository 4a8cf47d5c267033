{#- Layer schemas are used verbatim (raw, integrated, thematic, publication, codelists), so the
    same names exist on every engine; models without a custom schema go to the target schema. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}{{ target.schema }}{%- else -%}{{ custom_schema_name | trim }}{%- endif -%}
{%- endmacro %}
