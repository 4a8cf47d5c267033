-- One row per person insured as self-employed or helper at the end of the quarter.
-- Current deliveries only; renamed to English snake_case and typed.
with source as (

    select * from {{ source('rsvz', 'selfemployed') }}
    where {{ is_current_delivery('rsvz', 'selfemployed') }}

),

renamed as (

    select
        ---------- ids
        cast(person_id as {{ dbt.type_string() }}) as person_id,
        cast(person_id_kind as {{ dbt.type_string() }}) as person_id_kind,
        ---------- period
        cast(quarter as {{ dbt.type_string() }}) as quarter,
        ---------- attributes
        cast(hoedanigheid as {{ dbt.type_string() }}) as capacity_code,
        cast(aard as {{ dbt.type_string() }}) as activity_type_code,
        cast(kbo as {{ dbt.type_string() }}) as enterprise_number,
        cast(start_date as date) as activity_start_date,
        ---------- lineage
        cast(delivery_id as {{ dbt.type_string() }}) as delivery_id

    from source

)

select * from renamed
