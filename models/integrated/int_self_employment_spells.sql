{{ config(materialized='view') }}
-- One row per self-employment spell: a person's uninterrupted run of quarters insured with the
-- RSVZ in the same capacity (hoedanigheid) and kind of activity (aard).
with quarters as (

    select person_id, capacity_code, activity_type_code, quarter, {{ quarter_seq('quarter') }} as quarter_seq
    from {{ ref('stg_rsvz__selfemployed') }}

),

islands as (

    select
        *,
        quarter_seq - row_number() over (partition by person_id, capacity_code, activity_type_code
                                         order by quarter_seq) as island
    from quarters

),

final as (

    select
        person_id,
        capacity_code,
        activity_type_code,
        min(quarter) as first_quarter,
        max(quarter) as last_quarter,
        count(*) as n_quarters
    from islands
    group by person_id, capacity_code, activity_type_code, island

)

select * from final
