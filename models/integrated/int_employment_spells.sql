{{ config(materialized='view') }}
-- One row per employment spell: a person's uninterrupted run of quarters with a DmfA line at
-- the same employer (RSZ employer number). Gaps-and-islands over quarter numbers.
with lines as (

    select
        person_id,
        employer_rsz_number,
        quarter,
        {{ quarter_seq('quarter') }} as quarter_seq,
        sum(days_worked) as days_worked,
        sum(gross_wage_eur) as gross_wage_eur,
        max(nace_division_code) as nace_division_code
    from {{ ref('stg_rsz__dmfa_employment_lines') }}
    group by person_id, employer_rsz_number, quarter

),

islands as (

    select
        *,
        quarter_seq - row_number() over (partition by person_id, employer_rsz_number order by quarter_seq) as island
    from lines

),

final as (

    select
        person_id,
        employer_rsz_number,
        min(quarter) as first_quarter,
        max(quarter) as last_quarter,
        count(*) as n_quarters,
        sum(days_worked) as days_worked,
        sum(gross_wage_eur) as gross_wage_eur,
        max(nace_division_code) as nace_division_code
    from islands
    group by person_id, employer_rsz_number, island

)

select * from final
