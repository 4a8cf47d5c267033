-- One row per worker line (person × employer × worker class) declared in the DmfA for the quarter.
-- Current deliveries only; renamed to English snake_case and typed.
with source as (

    select * from {{ source('rsz', 'dmfa_employment_lines') }}
    where {{ is_current_delivery('rsz', 'dmfa_employment_lines') }}

),

renamed as (

    select
        ---------- ids
        cast(person_id as {{ dbt.type_string() }}) as person_id,
        cast(person_id_kind as {{ dbt.type_string() }}) as person_id_kind,
        ---------- period
        cast(quarter as {{ dbt.type_string() }}) as quarter,
        ---------- attributes
        cast(employer_kbo as {{ dbt.type_string() }}) as employer_enterprise_number,
        cast(rsz_employer_number as {{ dbt.type_string() }}) as employer_rsz_number,
        cast(local_unit_refnis as {{ dbt.type_string() }}) as local_unit_municipality_refnis,
        cast(local_unit_refnis_reported as {{ dbt.type_string() }}) as local_unit_municipality_refnis_reported,
        cast(local_unit_size_class as {{ dbt.type_string() }}) as local_unit_size_class_code,
        cast(nace_division as {{ dbt.type_string() }}) as nace_division_code,
        cast(nace_division_version as {{ dbt.type_string() }}) as nace_version,
        cast(worker_class as {{ dbt.type_string() }}) as worker_class_code,
        cast(days as {{ dbt.type_bigint() }}) as days_worked,
        cast(parttime_pct as double) as parttime_pct,
        cast(gross_wage_eur as decimal(14, 2)) as gross_wage_eur,
        ---------- lineage
        cast(delivery_id as {{ dbt.type_string() }}) as delivery_id

    from source

)

select * from renamed
