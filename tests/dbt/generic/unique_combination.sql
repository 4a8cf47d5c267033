{#- The combination of columns is unique (dbt_utils.unique_combination_of_columns, written
    here so that no package has to be fetched). -#}
{% test unique_combination(model, columns) %}
select {{ columns | join(', ') }}, count(*) as n_rows
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1
{% endtest %}
