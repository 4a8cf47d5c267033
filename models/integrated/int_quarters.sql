-- One row per reference quarter of the warehouse: every quarter with a current RSZ DmfA
-- delivery, with its reference date (last day of the quarter) and the register snapshot
-- (latest 1 January on or before the quarter) that defines its resident population.
with dmfa_quarters as (

    select distinct reference_period as quarter
    from {{ ref('stg_landing__deliveries') }}
    where supplier = 'rsz' and dataset = 'dmfa_employment_lines' and is_current

),

register_years as (

    select distinct cast(reference_period as {{ dbt.type_int() }}) as register_year
    from {{ ref('stg_landing__deliveries') }}
    where supplier = 'rr' and dataset = 'population' and is_current

),

quarters as (

    select
        quarter,
        cast(substr(quarter, 1, 4) as {{ dbt.type_int() }}) as quarter_year,
        cast(substr(quarter, 6, 1) as {{ dbt.type_int() }}) as quarter_number,
        {{ quarter_seq('quarter') }} as quarter_seq
    from dmfa_quarters

),

with_register as (

    select q.quarter, q.quarter_year, q.quarter_number, q.quarter_seq, max(r.register_year) as register_year
    from quarters as q
    inner join register_years as r on r.register_year <= q.quarter_year
    group by q.quarter, q.quarter_year, q.quarter_number, q.quarter_seq

),

final as (

    select
        quarter,
        quarter_year,
        quarter_number,
        quarter_seq,
        cast(concat(cast(quarter_year as {{ dbt.type_string() }}), '-',
                    case quarter_number when 1 then '01' when 2 then '04' when 3 then '07' else '10' end,
                    '-01') as date) as quarter_start_date,
        cast(concat(cast(quarter_year as {{ dbt.type_string() }}), '-',
                    case quarter_number when 1 then '03-31' when 2 then '06-30' when 3 then '09-30' else '12-31' end)
             as date) as quarter_end_date,
        concat(cast(quarter_year as {{ dbt.type_string() }}), '-',
               case quarter_number when 1 then '03' when 2 then '06' when 3 then '09' else '12' end) as reference_month,
        register_year
    from with_register

)

select * from final
