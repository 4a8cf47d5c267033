{{ config(materialized='view') }}
-- One row per jobseeker spell: a person's registration with VDAB as non-working jobseeker,
-- identified by its registration date, observed in the end-of-month snapshots.
with final as (

    select
        person_id,
        registration_date,
        min(snapshot_month) as first_snapshot_month,
        max(snapshot_month) as last_snapshot_month,
        count(*) as n_snapshots
    from {{ ref('stg_vdab__jobseekers') }}
    group by person_id, registration_date

)

select * from final
