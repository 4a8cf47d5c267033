{{ config(materialized='view') }}
-- One row per benefit spell: a person's uninterrupted run of months with an RVA benefit of the
-- same type, or with social integration income (POD MI, benefit_type_code 'RIS').
with months as (

    select person_id, benefit_type_code, benefit_month as benefit_month, days_paid, benefit_amount_eur as amount_eur
    from {{ ref('stg_rva__unemployment_benefits') }}
    union all
    select person_id, 'RIS' as benefit_type_code, integration_month, cast(null as {{ dbt.type_bigint() }}),
           integration_amount_eur
    from {{ ref('stg_podmi__social_integration') }}

),

numbered as (

    select
        *,
        cast(substr(benefit_month, 1, 4) as {{ dbt.type_int() }}) * 12
            + cast(substr(benefit_month, 6, 2) as {{ dbt.type_int() }}) as month_seq
    from months

),

islands as (

    select
        *,
        month_seq - row_number() over (partition by person_id, benefit_type_code order by month_seq) as island
    from numbered

),

final as (

    select
        person_id,
        benefit_type_code,
        min(benefit_month) as first_month,
        max(benefit_month) as last_month,
        count(*) as n_months,
        sum(days_paid) as days_paid,
        sum(amount_eur) as amount_eur
    from islands
    group by person_id, benefit_type_code, island

)

select * from final
