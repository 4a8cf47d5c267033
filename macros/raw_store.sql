{#- Only the current delivery of each reference period feeds the warehouse: the register
    marks it 'accepted'; superseded and rejected deliveries stay on disk as history. -#}
{% macro is_current_delivery(supplier, dataset) -%}
    delivery_id in (
        select delivery_id from {{ ref('stg_landing__deliveries') }}
        where supplier = '{{ supplier }}' and dataset = '{{ dataset }}' and is_current
    )
{%- endmacro %}
