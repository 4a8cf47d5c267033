-- One row per person × date on which the person's highest known education level rose:
-- a validity interval [valid_from_date, valid_to_date) of the attained ISCED level. Evidence:
-- AHOVOKS LED qualifications (award date) and the level VDAB records for jobseekers.
with events as (

    select person_id, award_date as event_date, cast(isced_level_code as {{ dbt.type_int() }}) as isced_level
    from {{ ref('stg_ahovoks__qualifications') }}
    union all
    select person_id, snapshot_date as event_date, cast(isced_level_code as {{ dbt.type_int() }}) as isced_level
    from {{ ref('stg_vdab__jobseekers') }}
    where isced_level_code is not null

),

-- Grouped on the compact key (macro person_key); the pseudonym rides along.
first_reached as (

    select
        {{ person_key('person_id') }} as person_key,
        isced_level,
        {{ dbt.any_value('person_id') }} as person_id,
        min(event_date) as reached_date
    from events
    group by {{ person_key('person_id') }}, isced_level

),

running as (

    select
        person_key,
        person_id,
        isced_level,
        reached_date,
        max(isced_level) over (partition by person_key order by reached_date, isced_level
                               rows between unbounded preceding and current row) as highest_level
    from first_reached

),

rises as (

    select person_key, {{ dbt.any_value('person_id') }} as person_id, reached_date as valid_from_date,
           max(isced_level) as isced_level
    from running
    where isced_level = highest_level
    group by person_key, reached_date

),

final as (

    select
        r.person_id,
        r.person_key,
        r.valid_from_date,
        lead(r.valid_from_date) over (partition by r.person_key order by r.valid_from_date) as valid_to_date,
        r.isced_level,
        s.education_level_3
    from rises as r
    left join {{ ref('isced2011_levels') }} as s
        on cast(r.isced_level as {{ dbt.type_string() }}) = s.isced_level

)

select * from final
