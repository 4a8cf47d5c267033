{#- Each value of the column goes with exactly one value of `other` (the compact person key
    stands for one pseudonym; a shared 60-bit prefix would merge two persons). -#}
{% test one_to_one(model, column_name, other) %}
select {{ column_name }}, count(distinct {{ other }}) as n_other
from {{ model }}
group by {{ column_name }}
having count(distinct {{ other }}) > 1
{% endtest %}
