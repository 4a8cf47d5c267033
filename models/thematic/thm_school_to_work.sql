-- One row per school leaver: a person whose last qualification in the LED was awarded in a
-- quarter of the warehouse (and who was resident then), with the position 1 and 2 years (4
-- and 8 quarters) after the quarter of leaving. Null while that quarter is not yet in the
-- warehouse. A table rebuilt every run: a new AHOVOKS year can move a person's leaving date
-- anywhere, and the leavers are few, so one pass over the panel (three quarters per leaver,
-- picked by conditional aggregation) is cheaper than keeping it incremental.
with qualifications as (

    select {{ person_key('person_id') }} as person_key, person_id, award_date,
           cast(isced_level_code as {{ dbt.type_int() }}) as isced_level
    from {{ ref('stg_ahovoks__qualifications') }}

),

last_award as (

    select person_key, max(award_date) as leaving_date
    from qualifications
    group by person_key

),

leavers as (

    select
        l.person_key,
        {{ dbt.any_value('q.person_id') }} as person_id,
        l.leaving_date,
        {{ quarter_of_date('l.leaving_date') }} as leaving_quarter,
        cast(extract(year from l.leaving_date) * 4 + floor((extract(month from l.leaving_date) + 2) / 3.0) - 1
             as {{ dbt.type_int() }}) as leaving_seq,
        max(q.isced_level) as isced_level
    from last_award as l
    inner join qualifications as q
        on l.person_key = q.person_key and q.award_date = l.leaving_date
    group by l.person_key, l.leaving_date

),

observed as (

    select
        l.person_key,
        p.quarter_seq - l.leaving_seq as quarters_after,
        p.sep_seq,
        case when {{ sep_code_is_working('p.sep_seq') }} then 1 else 0 end as is_working,
        case when {{ sep_code_is_unemployed('p.sep_seq', 'p.nwwz_category_code is not null') }} then 1 else 0 end
            as is_unemployed
    from leavers as l
    inner join {{ ref('int_person_quarter_compact') }} as p
        on l.person_key = p.person_key
    where p.quarter_seq in (l.leaving_seq, l.leaving_seq + 4, l.leaving_seq + 8)

),

pivoted as (

    select
        person_key,
        max(case when quarters_after = 4 then sep_seq end) as sep_seq_after_1_year,
        max(case when quarters_after = 4 then is_working end) as is_working_after_1_year,
        max(case when quarters_after = 4 then is_unemployed end) as is_unemployed_after_1_year,
        max(case when quarters_after = 8 then sep_seq end) as sep_seq_after_2_years,
        max(case when quarters_after = 8 then is_working end) as is_working_after_2_years,
        max(case when quarters_after = 8 then is_unemployed end) as is_unemployed_after_2_years
    from observed
    group by person_key
    having max(case when quarters_after = 0 then 1 else 0 end) = 1

),

final as (

    select
        cast(l.person_id as {{ dbt.type_string() }}) as person_id,
        cast(l.leaving_quarter as {{ dbt.type_string() }}) as leaving_quarter,
        l.leaving_date,
        cast(l.isced_level as {{ dbt.type_int() }}) as isced_level,
        cast({{ two_digit_label('p.sep_seq_after_1_year') }} as {{ dbt.type_string() }}) as sep_seq_after_1_year,
        p.is_working_after_1_year = 1 as is_working_after_1_year,
        p.is_unemployed_after_1_year = 1 as is_unemployed_after_1_year,
        cast({{ two_digit_label('p.sep_seq_after_2_years') }} as {{ dbt.type_string() }}) as sep_seq_after_2_years,
        p.is_working_after_2_years = 1 as is_working_after_2_years,
        p.is_unemployed_after_2_years = 1 as is_unemployed_after_2_years
    from leavers as l
    inner join pivoted as p on l.person_key = p.person_key

)

select * from final
