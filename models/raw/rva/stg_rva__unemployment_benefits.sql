-- One row per person and benefit type paid for the month.
-- Current deliveries only; renamed to English snake_case and typed.
with source as (

    select * from {{ source('rva', 'unemployment_benefits') }}
    where {{ is_current_delivery('rva', 'unemployment_benefits') }}

),

renamed as (

    select
        ---------- ids
        cast(person_id as {{ dbt.type_string() }}) as person_id,
        cast(person_id_kind as {{ dbt.type_string() }}) as person_id_kind,
        ---------- period
        cast(month as {{ dbt.type_string() }}) as benefit_month,
        ---------- attributes
        cast(benefit_type as {{ dbt.type_string() }}) as benefit_type_code,
        cast(days_paid as {{ dbt.type_bigint() }}) as days_paid,
        cast(amount_eur as decimal(14, 2)) as benefit_amount_eur,
        ---------- lineage
        cast(delivery_id as {{ dbt.type_string() }}) as delivery_id

    from source

)

select * from renamed
