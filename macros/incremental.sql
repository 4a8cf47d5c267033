{#- Incremental processing by quarter. A run re-processes every quarter from
    refresh_from_quarter() on and leaves older quarters as they are. Every derivation for a
    quarter uses only inputs whose reference period is on or before that quarter, so an
    incremental run and a full rebuild give the same rows (tests/integration). -#}

{% macro refresh_from_quarter() -%}
    {%- set given = var('refresh_from_quarter', none) -%}
    {%- if given -%}
        {{ return(given) }}
    {%- endif -%}
    {%- if execute and is_incremental() -%}
        {%- set result = run_query('select max(quarter) from ' ~ this) -%}
        {%- set latest = result.columns[0].values()[0] -%}
        {{ return(latest if latest else '0000Q1') }}
    {%- endif -%}
    {{ return('0000Q1') }}
{%- endmacro %}

{#- A where-clause term: true for the quarters this run must (re)build. -#}
{% macro in_refresh_window(quarter_column) -%}
    {%- if is_incremental() -%}
        {{ quarter_column }} >= '{{ refresh_from_quarter() }}'
    {%- else -%}
        1 = 1
    {%- endif -%}
{%- endmacro %}
