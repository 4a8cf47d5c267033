{#- Every row satisfies the expression (dbt_utils.expression_is_true, written here). -#}
{% test expression_is_true(model, expression) %}
select * from {{ model }} where not ({{ expression }})
{% endtest %}
