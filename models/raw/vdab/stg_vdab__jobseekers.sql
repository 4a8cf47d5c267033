-- One row per non-working jobseeker (NWWZ) registered with VDAB on the last day of the month.
-- Current deliveries only; renamed to English snake_case and typed.
with source as (

    select * from {{ source('vdab', 'jobseekers') }}
    where {{ is_current_delivery('vdab', 'jobseekers') }}

),

renamed as (

    select
        ---------- ids
        cast(person_id as {{ dbt.type_string() }}) as person_id,
        cast(person_id_kind as {{ dbt.type_string() }}) as person_id_kind,
        ---------- period
        cast(reference_period as {{ dbt.type_string() }}) as snapshot_month,
        ---------- attributes
        cast(snapshot_date as date) as snapshot_date,
        cast(nwwz_category as {{ dbt.type_string() }}) as nwwz_category_code,
        cast(wzw_group as {{ dbt.type_string() }}) as wzw_group_code,
        cast(bemiddelingsstatus as {{ dbt.type_string() }}) as placement_status_code,
        cast(registration_date as date) as registration_date,
        cast(isced_level as {{ dbt.type_string() }}) as isced_level_code,
        cast(refnis_residence as {{ dbt.type_string() }}) as municipality_refnis,
        cast(refnis_residence_reported as {{ dbt.type_string() }}) as municipality_refnis_reported,
        ---------- lineage
        cast(delivery_id as {{ dbt.type_string() }}) as delivery_id

    from source

)

select * from renamed
