{{ config(materialized='view', meta={'refresh_window': {'column': 'quarter', 'kind': 'quarter'}}) }}
-- One row per person × quarter for residents observed in the quarter and the one before: the
-- position in both and the transition class (macro transition_type): work to work, into and
-- out of unemployment, into work, into inactivity. A view over the compact panel (a self-join
-- on the compact key and the quarter number): storing 17 M rows per million persons cost more
-- in every build than the join costs the few readers of the dataset.
with panel as (

    select person_key, quarter_seq, sep_seq, nwwz_category_code is not null as is_nwwz
    from {{ ref('int_person_quarter_compact') }}

),

transitions as (

    select
        c.person_key,
        c.quarter_seq,
        p.sep_seq as from_sep_seq,
        c.sep_seq as to_sep_seq,
        {{ transition_type(sep_code_is_working('p.sep_seq'), sep_code_is_unemployed('p.sep_seq', 'p.is_nwwz'),
                           sep_code_is_working('c.sep_seq'), sep_code_is_unemployed('c.sep_seq', 'c.is_nwwz')) }}
            as transition_type
    from panel as c
    inner join panel as p
        on c.person_key = p.person_key and p.quarter_seq = c.quarter_seq - 1

),

quarters as (

    select quarter, quarter_seq, register_year from {{ ref('int_quarters') }}

),

persons as (

    select person_key, register_year, person_id from {{ ref('int_persons') }}

),

final as (

    select
        cast(pr.person_id as {{ dbt.type_string() }}) as person_id,
        cast(q.quarter as {{ dbt.type_string() }}) as quarter,
        cast(f.quarter as {{ dbt.type_string() }}) as from_quarter,
        cast({{ two_digit_label('t.from_sep_seq') }} as {{ dbt.type_string() }}) as from_sep_seq,
        cast({{ two_digit_label('t.to_sep_seq') }} as {{ dbt.type_string() }}) as to_sep_seq,
        cast(t.transition_type as {{ dbt.type_string() }}) as transition_type
    from transitions as t
    inner join quarters as q on t.quarter_seq = q.quarter_seq
    inner join quarters as f on t.quarter_seq - 1 = f.quarter_seq
    inner join persons as pr on t.person_key = pr.person_key and q.register_year = pr.register_year

)

select * from final
