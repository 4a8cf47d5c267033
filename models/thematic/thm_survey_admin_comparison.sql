-- One row per LFS respondent × reference quarter: the survey's ILO status beside the
-- administrative position of the same person in the same quarter, with the survey weights.
-- Fixed research dataset for projects (survey × register linkage); disclosure checks use
-- calibrated_weight for estimates and count persons (rows) for thresholds.
{{ config(enabled=var('survey', false)) }}
with responses as (

    select * from {{ ref('stg_statbel__lfs_responses') }}

),

weights as (

    select * from {{ ref('stg_statbel__lfs_weights') }}

),

panel as (

    select person_id, quarter, age, age_band, sex_code, province_refnis, sep_seq,
           sep_main_group, is_working, is_unemployed
    from {{ ref('int_person_quarter') }}

),

final as (

    select
        cast(r.person_id as {{ dbt.type_string() }}) as person_id,
        cast(r.survey_quarter as {{ dbt.type_string() }}) as quarter,
        cast(w.sample_id as {{ dbt.type_string() }}) as sample_id,
        r.interview_date,
        cast(r.ilo_status_code as {{ dbt.type_string() }}) as ilo_status_code,
        r.usual_weekly_hours,
        p.age,
        cast(p.age_band as {{ dbt.type_string() }}) as age_band,
        cast(p.sex_code as {{ dbt.type_string() }}) as sex_code,
        cast(p.province_refnis as {{ dbt.type_string() }}) as province_refnis,
        cast(p.sep_seq as {{ dbt.type_string() }}) as sep_seq,
        p.sep_main_group,
        cast(case when p.is_working then '1' when p.is_unemployed then '2' else '3' end
             as {{ dbt.type_string() }}) as admin_status_code,
        (case when p.is_working then '1' when p.is_unemployed then '2' else '3' end)
            = r.ilo_status_code as statuses_agree,
        w.design_weight,
        w.calibrated_weight

    from responses as r
    inner join weights as w
        on r.person_id = w.person_id and r.survey_quarter = w.survey_quarter
        and r.delivery_id = w.delivery_id
    inner join panel as p
        on r.person_id = p.person_id and r.survey_quarter = p.quarter

)

select * from final
