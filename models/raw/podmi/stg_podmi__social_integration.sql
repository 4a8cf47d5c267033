-- One row per person receiving social integration income (leefloon) for the month.
-- Current deliveries only; renamed to English snake_case and typed.
with source as (

    select * from {{ source('podmi', 'social_integration') }}
    where {{ is_current_delivery('podmi', 'social_integration') }}

),

renamed as (

    select
        ---------- ids
        cast(person_id as {{ dbt.type_string() }}) as person_id,
        cast(person_id_kind as {{ dbt.type_string() }}) as person_id_kind,
        ---------- period
        cast(month as {{ dbt.type_string() }}) as integration_month,
        ---------- attributes
        cast(category as {{ dbt.type_string() }}) as category_code,
        cast(ocmw_refnis as {{ dbt.type_string() }}) as ocmw_municipality_refnis,
        cast(ocmw_refnis_reported as {{ dbt.type_string() }}) as ocmw_municipality_refnis_reported,
        cast(amount_eur as decimal(14, 2)) as integration_amount_eur,
        ---------- lineage
        cast(delivery_id as {{ dbt.type_string() }}) as delivery_id

    from source

)

select * from renamed
