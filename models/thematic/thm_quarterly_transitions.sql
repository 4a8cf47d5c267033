{{ config(materialized='incremental', unique_key='quarter', incremental_strategy=incremental_strategy(),
          on_schema_change='fail', meta={'refresh_window': {'column': 'quarter', 'kind': 'quarter'}}) }}
-- One row per person × quarter for residents observed in the quarter and the one before: the
-- position in both and the transition class (macro transition_type): work to work, into and
-- out of unemployment, into work, into inactivity. Incremental by (arrival) quarter; joined on
-- the compact person key.
with current_quarter as (

    select person_id, person_key, quarter, quarter_seq, sep_seq, is_working, is_unemployed
    from {{ ref('int_person_quarter') }}
    where {{ in_refresh_window('quarter') }}

),

previous_quarter as (

    select person_key, quarter, quarter_seq, sep_seq, is_working, is_unemployed
    from {{ ref('int_person_quarter') }}
    where {{ in_refresh_window('quarter', lookback=1) }}

),

final as (

    select
        cast(c.person_id as {{ dbt.type_string() }}) as person_id,
        cast(c.quarter as {{ dbt.type_string() }}) as quarter,
        cast(p.quarter as {{ dbt.type_string() }}) as from_quarter,
        cast(p.sep_seq as {{ dbt.type_string() }}) as from_sep_seq,
        cast(c.sep_seq as {{ dbt.type_string() }}) as to_sep_seq,
        cast({{ transition_type('p.is_working', 'p.is_unemployed', 'c.is_working', 'c.is_unemployed') }}
             as {{ dbt.type_string() }}) as transition_type
    from current_quarter as c
    inner join previous_quarter as p
        on c.person_key = p.person_key and p.quarter_seq = c.quarter_seq - 1

)

select * from final
