-- One row per linked LFS respondent and sample: the survey weights computed at the TTP.
{{ config(enabled=var('survey', false)) }}
select
    cast(person_id as {{ dbt.type_string() }}) as person_id,
    cast(quarter as {{ dbt.type_string() }}) as survey_quarter,
    cast(sample_id as {{ dbt.type_string() }}) as sample_id,
    cast(stratum as {{ dbt.type_string() }}) as stratum,
    cast(design_weight as double) as design_weight,
    cast(nonresponse_weight as double) as nonresponse_weight,
    cast(calibrated_weight as double) as calibrated_weight,
    cast(delivery_id as {{ dbt.type_string() }}) as delivery_id
from {{ source('statbel', 'lfs_weights') }}
