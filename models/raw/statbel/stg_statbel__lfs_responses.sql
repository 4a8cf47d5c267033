-- One row per LFS respondent and delivery (current deliveries only), typed and renamed.
-- Both delivery forms (INSZ or the TTP's sample keys) arrive here with the pseudonym only.
{{ config(enabled=var('survey', false)) }}
with source as (

    select * from {{ source('statbel', 'lfs_responses') }}
    where {{ is_current_delivery('statbel', 'lfs_responses') }}
       or {{ is_current_delivery('statbel', 'lfs_responses_by_key') }}

),

renamed as (

    select
        ---------- ids
        cast(person_id as {{ dbt.type_string() }}) as person_id,
        cast(person_id_kind as {{ dbt.type_string() }}) as person_id_kind,
        ---------- period
        cast(quarter as {{ dbt.type_string() }}) as survey_quarter,
        cast(interview_date as date) as interview_date,
        ---------- answers
        cast(ilo_status as {{ dbt.type_string() }}) as ilo_status_code,
        cast(usual_weekly_hours as integer) as usual_weekly_hours,
        ---------- lineage
        cast(delivery_id as {{ dbt.type_string() }}) as delivery_id

    from source

)

select * from renamed
