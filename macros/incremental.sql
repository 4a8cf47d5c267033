{#- Incremental processing by quarter. A run re-processes every quarter from
    refresh_from_quarter() on and leaves older quarters as they are. Every derivation for a
    quarter uses only inputs whose reference period is on or before that quarter (or, with a
    look-back, a fixed number of quarters after it), so an incremental run and a full rebuild
    give the same rows (tests/integration/test_warehouse.py). -#}

{% macro refresh_from_quarter() -%}
    {%- set given = var('refresh_from_quarter', none) -%}
    {%- if given -%}
        {{ return(given) }}
    {%- endif -%}
    {%- if execute and is_incremental() -%}
        {#- run by hand without the var: re-process the latest period already built -#}
        {%- set window = (config.get('meta') or {}).get('refresh_window') or {} -%}
        {%- if window.get('kind') == 'year' -%}
            {%- set result = run_query('select max(' ~ window.column ~ ') from ' ~ this) -%}
            {%- set latest = result.columns[0].values()[0] -%}
            {{ return((latest | string) ~ 'Q1' if latest else '0000Q1') }}
        {%- endif -%}
        {%- if window.get('kind') == 'quarter_seq' -%}
            {%- set result = run_query('select max(' ~ window.column ~ ') from ' ~ this) -%}
            {%- set latest = result.columns[0].values()[0] -%}
            {{ return(seq_to_quarter(latest | int) if latest is not none else '0000Q1') }}
        {%- endif -%}
        {%- set result = run_query('select max(quarter) from ' ~ this) -%}
        {%- set latest = result.columns[0].values()[0] -%}
        {{ return(latest if latest else '0000Q1') }}
    {%- endif -%}
    {{ return('0000Q1') }}
{%- endmacro %}

{#- Quarter label arithmetic in Jinja: shift_quarter('2025Q1', -1) = '2024Q4'. -#}
{% macro shift_quarter(quarter, n) -%}
    {%- set seq = (quarter[:4] | int) * 4 + (quarter[5:6] | int) - 1 + n -%}
    {{ return('%04d' % (seq // 4) ~ 'Q' ~ (seq % 4 + 1)) }}
{%- endmacro %}

{#- Quarter label <-> consecutive quarter number (year * 4 + quarter - 1, macro quarter_seq). -#}
{% macro quarter_to_seq(quarter) -%}
    {{ return((quarter[:4] | int) * 4 + (quarter[5:6] | int) - 1) }}
{%- endmacro %}

{% macro seq_to_quarter(seq) -%}
    {{ return('%04d' % (seq // 4) ~ 'Q' ~ (seq % 4 + 1)) }}
{%- endmacro %}

{#- The window on a quarter number column (the compact person × quarter tables store
    quarter_seq instead of the label). -#}
{% macro in_refresh_window_seq(seq_column, lookback=0) -%}
    {%- if is_incremental() -%}
        {{ seq_column }} >= {{ quarter_to_seq(shift_quarter(refresh_from_quarter(), -lookback)) }}
    {%- else -%}
        1 = 1
    {%- endif -%}
{%- endmacro %}

{#- A where-clause term on a quarter label column: true for the quarters this run must
    (re)build. `lookback` widens the window to that many earlier quarters, for derivations
    that look ahead (NEET education within a year) or back (the previous quarter). -#}
{% macro in_refresh_window(quarter_column, lookback=0) -%}
    {%- if is_incremental() -%}
        {{ quarter_column }} >= '{{ shift_quarter(refresh_from_quarter(), -lookback) }}'
    {%- else -%}
        1 = 1
    {%- endif -%}
{%- endmacro %}

{#- The first register snapshot (1 January of a year) an incremental run rebuilds: a snapshot
    changes only with a delivery of its own year, which starts the window at the year's first
    quarter. -#}
{% macro first_register_year_to_refresh() -%}
    {%- set q = refresh_from_quarter() -%}
    {{ return((q[:4] | int) + (0 if q[5:6] == '1' else 1)) }}
{%- endmacro %}

{#- The same window on a monthly label column (YYYY-MM), written so the comparison reaches
    the Parquet statistics of the raw store (no function around the column). -#}
{% macro in_refresh_window_month(month_column, lookback=0) -%}
    {%- if is_incremental() -%}
        {%- set q = shift_quarter(refresh_from_quarter(), -lookback) -%}
        {{ month_column }} >= '{{ q[:4] }}-{{ '%02d' % ((q[5:6] | int) * 3 - 2) }}'
    {%- else -%}
        1 = 1
    {%- endif -%}
{%- endmacro %}

{#- The window of a model as a predicate for its tests: in an incremental run (var
    refresh_from_quarter set, no --full-refresh) the rows of the refreshed periods only, since
    older rows are unchanged and were tested when they were built; otherwise every row.
    A model declares its period column in config meta:
      refresh_window: {column: quarter, kind: quarter|quarter_seq|month|year, lookback: 0} -#}
{% macro refresh_window_predicate(window) -%}
    {%- set given = var('refresh_from_quarter', none) -%}
    {%- if not window or not given or flags.FULL_REFRESH -%}
        {{ return('') }}
    {%- endif -%}
    {%- set q = shift_quarter(given, -(window.get('lookback', 0) | int)) -%}
    {%- if window.kind == 'month' -%}
        {{ return(window.column ~ " >= '" ~ q[:4] ~ '-' ~ ('%02d' % ((q[5:6] | int) * 3 - 2)) ~ "'") }}
    {%- elif window.kind == 'quarter_seq' -%}
        {{ return(window.column ~ ' >= ' ~ quarter_to_seq(q)) }}
    {%- elif window.kind == 'year' -%}
        {{ return(window.column ~ ' >= ' ~ ((q[:4] | int) + (0 if q[5:6] == '1' else 1))) }}
    {%- else -%}
        {{ return(window.column ~ " >= '" ~ q ~ "'") }}
    {%- endif -%}
{%- endmacro %}

{#- Tests read their model through this macro (dbt's hook for the `where` config): it adds
    the model's refresh window, so an incremental build tests the quarters it rebuilt instead
    of re-reading the whole history (tests/integration/test_warehouse.py runs every test on
    a full rebuild too). -#}
{% macro get_where_subquery(relation) -%}
    {%- set terms = [] -%}
    {%- set where = config.get('where', '') -%}
    {%- if where -%}{%- do terms.append('(' ~ where ~ ')') -%}{%- endif -%}
    {%- set predicate = tested_model_window() -%}
    {%- if predicate -%}{%- do terms.append(predicate) -%}{%- endif -%}
    {%- if terms -%}
        {%- do return('(select * from ' ~ relation ~ ' where ' ~ terms | join(' and ') ~ ') dbt_subquery') -%}
    {%- endif -%}
    {%- do return(relation) -%}
{%- endmacro %}

{#- Inside a test: the refresh-window predicate of the model under test ('' = every row). -#}
{% macro tested_model_window() -%}
    {%- set attached = model.get('attached_node') if model is mapping else none -%}
    {%- if execute and attached and attached in graph.nodes -%}
        {{ return(refresh_window_predicate(graph.nodes[attached].config.meta.get('refresh_window'))) }}
    {%- endif -%}
    {{ return('') }}
{%- endmacro %}
