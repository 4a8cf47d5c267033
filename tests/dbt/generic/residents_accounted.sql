{#- Reconciliation: the person × quarter table has exactly one row per register resident of
    each quarter (rows in = rows out between int_persons and the panel). quarter_column names
    the model's quarter column: the label (quarter) or the number (quarter_seq). -#}
{% test residents_accounted(model, persons, quarters, quarter_column='quarter') %}
with expected as (
    select q.{{ quarter_column }} as quarter, count(*) as n_expected
    from {{ persons }} as p
    inner join {{ quarters }} as q on p.register_year = q.register_year
    {%- set window = refresh_window_predicate({'column': 'q.quarter', 'kind': 'quarter'}) %}
    {%- if window %}
    where {{ window }}  {#- an incremental build tests the quarters it rebuilt #}
    {%- endif %}
    group by q.{{ quarter_column }}
),
actual as (
    select {{ quarter_column }} as quarter, count(*) as n_actual from {{ model }} group by {{ quarter_column }}
)
select e.quarter, e.n_expected, a.n_actual
from expected as e
left join actual as a on e.quarter = a.quarter
where a.n_actual is null or a.n_actual <> e.n_expected
{% endtest %}
