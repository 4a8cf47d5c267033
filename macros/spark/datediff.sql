{#- dbt's datediff counts calendar boundaries on DuckDB and Trino (months: (y2 - y1) * 12 +
    m2 - m1), but dbt-spark's month branch builds on months_between and adds one when the later
    date's day of month is smaller, so 2024-07-31 -> 2024-09-30 gives 3 on Spark and 2
    elsewhere (unemployment durations differed; tests/spark). On Spark, months and years are
    counted the boundary way too; other dateparts stay dbt-spark's. -#}
{% macro spark__datediff(first_date, second_date, datepart) -%}
    {%- if datepart == 'month' -%}
        ((extract(year from {{ second_date }}) - extract(year from {{ first_date }})) * 12
         + extract(month from {{ second_date }}) - extract(month from {{ first_date }}))
    {%- elif datepart == 'year' -%}
        (extract(year from {{ second_date }}) - extract(year from {{ first_date }}))
    {%- else -%}
        {{ dbt_spark.spark__datediff(first_date, second_date, datepart) }}
    {%- endif -%}
{%- endmacro %}
