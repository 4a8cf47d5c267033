-- One row per delivery in the landing register; is_current marks the one delivery per
-- supplier, dataset and reference period that feeds the warehouse.
with source as (

    select * from {{ source('landing', 'deliveries') }}

),

renamed as (

    select
        cast(delivery_id as {{ dbt.type_string() }}) as delivery_id,
        cast(supplier as {{ dbt.type_string() }}) as supplier,
        cast(dataset as {{ dbt.type_string() }}) as dataset,
        cast(reference_period as {{ dbt.type_string() }}) as reference_period,
        cast(revision as {{ dbt.type_int() }}) as revision,
        cast(status as {{ dbt.type_string() }}) as delivery_status,
        status = 'accepted' as is_current,
        cast(sent_at as {{ dbt.type_string() }}) as sent_at,
        cast(rows_in as {{ dbt.type_bigint() }}) as rows_in,
        cast(rows_accepted as {{ dbt.type_bigint() }}) as rows_accepted,
        cast(rows_quarantined as {{ dbt.type_bigint() }}) as rows_quarantined

    from source

)

select * from renamed
