-- One row per qualification (diploma, certificate) awarded to a person.
-- Current deliveries only; renamed to English snake_case and typed.
with source as (

    select * from {{ source('ahovoks', 'qualifications') }}
    where {{ is_current_delivery('ahovoks', 'qualifications') }}

),

renamed as (

    select
        ---------- ids
        cast(person_id as {{ dbt.type_string() }}) as person_id,
        cast(person_id_kind as {{ dbt.type_string() }}) as person_id_kind,
        ---------- period
        cast(reference_period as {{ dbt.type_int() }}) as award_year,
        ---------- attributes
        cast(qualification_id as {{ dbt.type_string() }}) as qualification_id,
        cast(isced_level as {{ dbt.type_string() }}) as isced_level_code,
        cast(award_date as date) as award_date,
        cast(institution_id as {{ dbt.type_string() }}) as institution_id,
        ---------- lineage
        cast(delivery_id as {{ dbt.type_string() }}) as delivery_id

    from source

)

select * from renamed
