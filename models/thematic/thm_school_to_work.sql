-- One row per school leaver: a person whose last qualification in the LED was awarded in a
-- quarter of the warehouse, with the position 1 and 2 years (4 and 8 quarters) after the
-- quarter of leaving. Null while that quarter is not yet in the warehouse.
with last_award as (

    select person_id, max(award_date) as leaving_date
    from {{ ref('stg_ahovoks__qualifications') }}
    group by person_id

),

leavers as (

    select
        l.person_id,
        l.leaving_date,
        {{ quarter_of_date('l.leaving_date') }} as leaving_quarter,
        max(cast(q.isced_level_code as {{ dbt.type_int() }})) as isced_level
    from last_award as l
    inner join {{ ref('stg_ahovoks__qualifications') }} as q
        on l.person_id = q.person_id and q.award_date = l.leaving_date
    group by l.person_id, l.leaving_date

),

panel as (

    select person_id, quarter, quarter_seq, sep_seq, is_working, is_unemployed
    from {{ ref('int_person_quarter') }}

),

final as (

    select
        cast(l.person_id as {{ dbt.type_string() }}) as person_id,
        cast(l.leaving_quarter as {{ dbt.type_string() }}) as leaving_quarter,
        l.leaving_date,
        cast(l.isced_level as {{ dbt.type_int() }}) as isced_level,
        cast(p1.sep_seq as {{ dbt.type_string() }}) as sep_seq_after_1_year,
        p1.is_working as is_working_after_1_year,
        p1.is_unemployed as is_unemployed_after_1_year,
        cast(p2.sep_seq as {{ dbt.type_string() }}) as sep_seq_after_2_years,
        p2.is_working as is_working_after_2_years,
        p2.is_unemployed as is_unemployed_after_2_years
    from leavers as l
    inner join panel as p0 on l.person_id = p0.person_id and l.leaving_quarter = p0.quarter
    left join panel as p1 on l.person_id = p1.person_id and p1.quarter_seq = p0.quarter_seq + 4
    left join panel as p2 on l.person_id = p2.person_id and p2.quarter_seq = p0.quarter_seq + 8

)

select * from final
