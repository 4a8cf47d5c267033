{#- Compact codes for the person × quarter tables. The panel has 140 M rows at 6.9 M persons ×
    20 quarters; writing repeated strings (labels, flags, codes) was most of its build cost
    (docs/benchmarks.md, issue 3), so the stored tables keep small integers and booleans are
    derived where they are read. Every encoding here has its decoding beside it; the seeds stay
    the reference for labels. Plain ANSI SQL, the same on every engine. -#}

{#- Nationality and origin groups (int_persons): 1 belgian, 2 eu, 3 non_eu, 0 unknown. -#}
{% macro group_to_code(expr) -%}
    case {{ expr }} when 'belgian' then 1 when 'eu' then 2 when 'non_eu' then 3 else 0 end
{%- endmacro %}

{% macro code_to_group(expr) -%}
    case {{ expr }} when 1 then 'belgian' when 2 then 'eu' when 3 then 'non_eu' else 'unknown' end
{%- endmacro %}

{#- Sex: 1 M, 2 F (seed sex). -#}
{% macro sex_to_code(expr) -%}
    case {{ expr }} when 'M' then 1 when 'F' then 2 end
{%- endmacro %}

{% macro code_to_sex(expr) -%}
    case {{ expr }} when 1 then 'M' when 2 then 'F' end
{%- endmacro %}

{#- Two-digit code lists with leading zeros (position seq '01'-'19', NWWZ categories
    '00'-'04'): stored as the number, shown as the two-digit label. -#}
{% macro two_digit_label(expr) -%}
    case when {{ expr }} < 10 then concat('0', cast({{ expr }} as {{ dbt.type_string() }}))
         else cast({{ expr }} as {{ dbt.type_string() }}) end
{%- endmacro %}

{#- REFNIS codes (five digits; municipality codes have no leading zero, 11001-73109): stored
    as the number, shown as the five-digit label (concat and cast only: portable). -#}
{% macro refnis_label(expr) -%}
    case when {{ expr }} < 10000 then concat('0', cast({{ expr }} as {{ dbt.type_string() }}))
         else cast({{ expr }} as {{ dbt.type_string() }}) end
{%- endmacro %}

{#- What a stored position number (sep_seq as a number 1-19) says: working (main group 1),
    self-employed or helper as main job, jobseeker with benefit (main group 2). -#}
{% macro sep_code_is_working(sep) -%}({{ sep }} between 1 and 6){%- endmacro %}

{% macro sep_code_is_self_employed_main_job(sep) -%}({{ sep }} in (2, 3, 5, 6)){%- endmacro %}

{% macro sep_code_main_group(sep) -%}
    case when {{ sep }} between 1 and 6 then 1 when {{ sep }} between 7 and 9 then 2
         when {{ sep }} = 19 then 4 else 3 end
{%- endmacro %}

{#- Unemployed: jobseeker with benefit, or registered NWWZ and not working. -#}
{% macro sep_code_is_unemployed(sep, is_nwwz) -%}
    ({{ sep }} between 7 and 9 or ({{ is_nwwz }} and not {{ sep }} between 1 and 6))
{%- endmacro %}

{% macro unemployment_duration_class(months) -%}
    case when {{ months }} is null then null
         when {{ months }} < 6 then 'lt_6_months'
         when {{ months }} < 12 then '6_to_12_months'
         when {{ months }} < 24 then '1_to_2_years'
         else '2_years_or_more' end
{%- endmacro %}
