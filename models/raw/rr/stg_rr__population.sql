-- One row per person registered in a Flemish municipality on 1 January of the register year.
-- Current deliveries only; renamed to English snake_case and typed.
with source as (

    select * from {{ source('rr', 'population') }}
    where {{ is_current_delivery('rr', 'population') }}

),

renamed as (

    select
        ---------- ids
        cast(person_id as {{ dbt.type_string() }}) as person_id,
        cast(person_id_kind as {{ dbt.type_string() }}) as person_id_kind,
        ---------- period
        cast(reference_period as {{ dbt.type_int() }}) as register_year,
        ---------- attributes
        cast(birth_date as date) as birth_date,
        cast(sex as {{ dbt.type_string() }}) as sex_code,
        cast(refnis_residence as {{ dbt.type_string() }}) as municipality_refnis,
        cast(refnis_residence_reported as {{ dbt.type_string() }}) as municipality_refnis_reported,
        cast(nationality_nis as {{ dbt.type_string() }}) as nationality_code,
        cast(first_nationality_nis as {{ dbt.type_string() }}) as first_nationality_code,
        cast(father_first_nationality_nis as {{ dbt.type_string() }}) as father_first_nationality_code,
        cast(mother_first_nationality_nis as {{ dbt.type_string() }}) as mother_first_nationality_code,
        cast(civil_status as {{ dbt.type_string() }}) as civil_status_code,
        cast(household_id as {{ dbt.type_string() }}) as household_id,
        cast(household_id_kind as {{ dbt.type_string() }}) as household_id_kind,
        ---------- lineage
        cast(delivery_id as {{ dbt.type_string() }}) as delivery_id

    from source

)

select * from renamed
