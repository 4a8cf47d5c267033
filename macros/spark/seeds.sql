{#- Seeds on Spark. dbt-spark's session method pastes seed values into the INSERT text
    without escaping: an apostrophe (ISCED "Bachelor's") breaks the statement and an empty
    cell becomes the text 'None'. Here each value is an escaped, typed literal (NULL stays
    NULL), so seeds load as on DuckDB; and the table is created with its rows in one
    statement (create table ... as select ... from values), not a create and an insert: each
    statement is a Spark job and a metastore round trip, the fixed cost that dominates a
    build on small data (make test-spark loads 27 seeds). -#}
{% macro spark__create_csv_table(model, agate_table) %}
    {%- set column_override = model['config'].get('column_types', {}) -%}
    {%- set quote_seed_column = model['config'].get('quote_columns', None) -%}
    {%- set names = [] -%}
    {%- set types = [] -%}
    {%- for col_name in agate_table.column_names -%}
        {%- do names.append(adapter.quote_seed_column(col_name | string, quote_seed_column)) -%}
        {%- do types.append(column_override.get(col_name, adapter.convert_type(agate_table, loop.index0))) -%}
    {%- endfor -%}
    {%- set sql -%}
        {%- if agate_table.rows | length == 0 -%}
            create table {{ this.render() }} (
            {%- for name in names -%}{{ name }} {{ types[loop.index0] }}{{ ', ' if not loop.last }}{%- endfor -%}
            ) {{ file_format_clause() }}
        {%- else -%}
            create table {{ this.render() }} {{ file_format_clause() }} as
            select * from values
            {% for row in agate_table.rows -%}
                ({%- for value in row -%}
                    cast({{ spark_seed_literal(value) }} as {{ types[loop.index0] }}){{ ', ' if not loop.last }}
                {%- endfor -%}){{ ',' if not loop.last }}
            {% endfor -%}
            as seed_rows({{ names | join(', ') }})
        {%- endif -%}
    {%- endset -%}
    {%- call statement('_') -%}
        {{ sql }}
    {%- endcall -%}
    {{ return(sql) }}
{% endmacro %}

{#- The rows are already in the table (spark__create_csv_table); dbt-spark recreates a seed's
    table on every load (spark__reset_csv_table drops it first), so nothing is inserted here. -#}
{% macro spark__load_csv_rows(model, agate_table) %}
    {{ return('') }}
{% endmacro %}

{#- A seed value as a Spark SQL literal: null, a number, or a quoted, escaped string. -#}
{% macro spark_seed_literal(value) -%}
    {%- if value is none -%}null
    {%- elif value is sameas true or value is sameas false -%}{{ 'true' if value else 'false' }}
    {%- elif value is number -%}{{ value }}
    {%- else -%}'{{ value | string | replace('\\', '\\\\') | replace("'", "\\'") }}'
    {%- endif -%}
{%- endmacro %}
