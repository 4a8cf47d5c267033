{#- Sum of the n largest values of an expression in a group: the contributors' totals that
    dominance rules need (disclosure/). DuckDB has a top-n aggregate (max(x, n)), one
    hash-aggregate pass; the window alternative is ~5x slower and 60x more memory
    (reference/perf/REPORT.md §6). -#}
{% macro top_n_sum(expr, n) -%}
    {{ return(adapter.dispatch('top_n_sum', 'sdwh')(expr, n)) }}
{%- endmacro %}

{% macro duckdb__top_n_sum(expr, n) -%}
    coalesce(list_sum(max({{ expr }}, {{ n }})), 0)
{%- endmacro %}

{#- Spark / Databricks: sort the collected values descending and add the first n. The sum is
    exact (decimal(38, 6), like DuckDB's list_sum over decimals); a double accumulator gave
    12187.259999999998 where DuckDB gives 12187.26 (tests/spark). -#}
{% macro default__top_n_sum(expr, n) -%}
    coalesce(aggregate(slice(sort_array(collect_list({{ expr }}), false), 1, {{ n }}),
                       cast(0 as decimal(38, 6)), (acc, x) -> cast(acc + x as decimal(38, 6))), 0)
{%- endmacro %}

{% macro incremental_strategy() -%}
    {{ return(adapter.dispatch('incremental_strategy', 'sdwh')()) }}
{%- endmacro %}

{% macro default__incremental_strategy() -%}delete+insert{%- endmacro %}

{#- Spark without Delta/Iceberg has no delete+insert; the partitions of the rebuilt periods
    are overwritten. That equals delete+insert on unique_key only if the table is partitioned
    by that key: without partition_by, dbt-spark's insert_overwrite replaces the whole table
    with the refreshed periods (int_persons and thm_neet_youth lost their history that way).
    So a model whose partition_by differs from its unique_key fails to compile on Spark. -#}
{% macro spark__incremental_strategy() -%}
    {%- if execute -%}
        {%- set key = config.get('unique_key') -%}
        {%- set parts = config.get('partition_by') -%}
        {%- set key = [key] if key is string else (key or []) -%}
        {%- set parts = [parts] if parts is string else (parts or []) -%}
        {%- if (key | list) != (parts | list) -%}
            {%- do exceptions.raise_compiler_error(
                "incremental model " ~ model.name ~ " has unique_key " ~ key ~ " but partition_by "
                ~ parts ~ " on Spark: insert_overwrite would replace other periods; set +partition_by to "
                ~ "the unique_key in dbt_project.yml (docs/scale-out.md)") -%}
        {%- endif -%}
    {%- endif -%}
    insert_overwrite
{%- endmacro %}

{#- Trino: no collect_list/aggregate; sort the non-null values descending and reduce,
    with the same exact decimal sum as on Spark. -#}
{% macro trino__top_n_sum(expr, n) -%}
    coalesce(reduce(slice(reverse(array_sort(array_agg({{ expr }}) filter (where {{ expr }} is not null))), 1, {{ n }}),
                    cast(0 as decimal(38, 6)), (acc, x) -> cast(acc + x as decimal(38, 6)), acc -> acc), 0)
{%- endmacro %}
