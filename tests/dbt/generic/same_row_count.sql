{#- Reconciliation: the model has as many rows as `compare_to` (a view that only adds labels
    to a table keeps its grain, so the table's grain tests cover it). In an incremental build
    both sides are restricted to the model's refresh window. -#}
{% test same_row_count(model, compare_to, compare_to_window=none) %}
{#- compare_to_window: the compared model's refresh window when its period column differs
    from the tested model's (a label view over a table keyed by quarter_seq) -#}
{%- set window = refresh_window_predicate(compare_to_window) if compare_to_window else tested_model_window() %}
select n_model, n_compared
from (select count(*) as n_model from {{ model }}) as m
cross join (select count(*) as n_compared from {{ compare_to }}
            {%- if window %} where {{ window }}{% endif %}) as c
where n_model <> n_compared
{% endtest %}
