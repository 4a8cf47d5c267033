{{ config(materialized='incremental', unique_key='register_year', incremental_strategy=incremental_strategy(),
          on_schema_change='fail', meta={'refresh_window': {'column': 'register_year', 'kind': 'year'}}) }}
-- One row per person × register year (the 1 January snapshot): the domicile history with
-- residence harmonised to the 2025 REFNIS codes through the merger map, geography levels,
-- nationality group and origin (Flemish definition, domain report §3.4). Incremental by
-- register year: a snapshot is (re)built only when its own delivery is new.
with population as (

    select * from {{ ref('stg_rr__population') }}
    {%- if is_incremental() %}
    where register_year >= {{ first_register_year_to_refresh() }}
    {%- endif %}

),

mergers as (

    select refnis_2024, refnis_2025 from {{ ref('refnis_merger_map_flanders_2024_2025') }}

),

municipalities as (

    select refnis, arrondissement_refnis, province_refnis, region_refnis
    from {{ ref('refnis_municipality_flanders_2025') }}

),

countries as (

    select nis_country_code, group_be_eu_noneu from {{ ref('nis_country_codes') }}

),

harmonised as (

    select
        p.*,
        coalesce(m.refnis_2025, p.municipality_refnis) as municipality_refnis_2025
    from population as p
    left join mergers as m on p.municipality_refnis = m.refnis_2024

),

origin as (

    select
        *,
        (nationality_code <> '150'
         or first_nationality_code <> '150'
         or coalesce(father_first_nationality_code, '150') <> '150'
         or coalesce(mother_first_nationality_code, '150') <> '150') as is_foreign_origin,
        case
            when coalesce(father_first_nationality_code, '150') <> '150' then father_first_nationality_code
            when coalesce(mother_first_nationality_code, '150') <> '150' then mother_first_nationality_code
            when first_nationality_code <> '150' then first_nationality_code
            else nationality_code
        end as origin_country_code
    from harmonised

),

final as (

    select
        ---------- keys
        o.person_id,
        o.register_year,
        {{ person_key('o.person_id') }} as person_key,
        o.person_id_kind,
        ---------- person
        o.birth_date,
        cast(extract(year from o.birth_date) as {{ dbt.type_int() }}) as birth_year,
        cast(extract(month from o.birth_date) * 100 + extract(day from o.birth_date) as {{ dbt.type_int() }})
            as birth_mmdd,
        o.sex_code,
        o.civil_status_code,
        o.household_id,
        ---------- residence
        o.municipality_refnis_2025 as municipality_refnis,
        o.municipality_refnis as municipality_refnis_register,
        g.arrondissement_refnis,
        g.province_refnis,
        g.region_refnis,
        ---------- nationality and origin
        o.nationality_code,
        case nat.group_be_eu_noneu when 'Belgium' then 'belgian' when 'EU' then 'eu'
             when 'non-EU' then 'non_eu' else 'unknown' end as nationality_group,
        o.first_nationality_code,
        o.origin_country_code,
        o.is_foreign_origin,
        case when not o.is_foreign_origin then 'belgian'
             when org.group_be_eu_noneu = 'EU' then 'eu'
             when org.group_be_eu_noneu = 'non-EU' then 'non_eu'
             else 'unknown' end as origin_group
    from origin as o
    left join municipalities as g on o.municipality_refnis_2025 = g.refnis
    left join countries as nat on o.nationality_code = nat.nis_country_code
    left join countries as org on o.origin_country_code = org.nis_country_code

)

select * from final
