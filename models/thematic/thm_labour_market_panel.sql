{{ config(materialized='view', meta={'refresh_window': {'column': 'quarter', 'kind': 'quarter'}}) }}
-- One row per resident person × quarter: the labour-market position panel for research, with
-- the position labels of the KSZ nomenclature. A view over int_person_quarter, so the 140 M-row
-- panel is stored once and follows its incremental updates.
with panel as (

    select * from {{ ref('int_person_quarter') }}

),

positions as (

    select seq, label_nl, main_group_nl from {{ ref('dwh_socio_economic_position') }}

),

final as (

    select
        cast(p.person_id as {{ dbt.type_string() }}) as person_id,
        cast(p.quarter as {{ dbt.type_string() }}) as quarter,
        p.quarter_end_date,
        cast(p.age as {{ dbt.type_int() }}) as age,
        cast(p.age_band as {{ dbt.type_string() }}) as age_band,
        cast(p.sex_code as {{ dbt.type_string() }}) as sex_code,
        cast(p.municipality_refnis as {{ dbt.type_string() }}) as municipality_refnis,
        cast(p.arrondissement_refnis as {{ dbt.type_string() }}) as arrondissement_refnis,
        cast(p.province_refnis as {{ dbt.type_string() }}) as province_refnis,
        cast(p.nationality_group as {{ dbt.type_string() }}) as nationality_group,
        cast(p.origin_group as {{ dbt.type_string() }}) as origin_group,
        cast(p.education_level_3 as {{ dbt.type_string() }}) as education_level_3,
        cast(p.sep_seq as {{ dbt.type_string() }}) as sep_seq,
        cast(s.label_nl as {{ dbt.type_string() }}) as sep_label_nl,
        cast(p.sep_main_group as {{ dbt.type_int() }}) as sep_main_group,
        cast(s.main_group_nl as {{ dbt.type_string() }}) as sep_main_group_nl,
        p.is_working,
        p.is_self_employed_main_job,
        p.is_parttime_employee,
        p.is_nwwz,
        p.is_unemployed,
        cast(p.unemployment_duration_class as {{ dbt.type_string() }}) as unemployment_duration_class
    from panel as p
    left join positions as s on p.sep_seq = s.seq

)

select * from final
