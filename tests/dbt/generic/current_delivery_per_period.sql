{#- At most one current delivery per supplier, dataset and reference period. -#}
{% test current_delivery_per_period(model) %}
select supplier, dataset, reference_period, count(*) as n_current
from {{ model }}
where is_current
group by supplier, dataset, reference_period
having count(*) > 1
{% endtest %}
