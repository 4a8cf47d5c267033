{#- THE POSITION PRIORITY RULE (DWH AM&SB, KSZ): one socio-economic position per person on the
    last day of the quarter, the one "closest to the labour market".

    1. Work comes first. An employee job (RSZ DmfA) and a self-employed or helper activity
       (RSVZ) combine into the categories 04-06, split by the main job: the self-employed
       activity is the main job when it is carried on as main occupation (aard HB), otherwise
       the employee job is (04).
    2. Otherwise self-employed (02) before helper (03).
    3. Otherwise the non-work position with the best rank in the seed `sep_position_priority`
       (RVA benefits on the reference date, social integration income), passed in as
       `non_work_sep_seq`.
    4. Otherwise 19 "andere".

    Arguments are SQL expressions for one person and quarter:
      has_employee_job      boolean
      self_employed_rank    1 = self-employed (hoedanigheid 1/3), 2 = helper (2/4), null = none
      self_employed_is_main boolean: the RSVZ activity is the main occupation (HB)
      non_work_sep_seq      the best-ranked non-work position, or null
    Unit tests: models/integrated/_integrated__models.yml (int_person_quarter_activity). -#}
{% macro socio_economic_position(has_employee_job, self_employed_rank, self_employed_is_main, non_work_sep_seq) -%}
    case
        when {{ has_employee_job }} and {{ self_employed_rank }} is null then '01'
        when {{ has_employee_job }} and {{ self_employed_is_main }} and {{ self_employed_rank }} = 1 then '05'
        when {{ has_employee_job }} and {{ self_employed_is_main }} and {{ self_employed_rank }} = 2 then '06'
        when {{ has_employee_job }} then '04'
        when {{ self_employed_rank }} = 1 then '02'
        when {{ self_employed_rank }} = 2 then '03'
        when {{ non_work_sep_seq }} is not null then {{ non_work_sep_seq }}
        else '19'
    end
{%- endmacro %}

{#- Main group of a position: 1 working, 2 jobseeker with benefit, 3 not active, 4 other. -#}
{% macro sep_main_group(sep_seq) -%}
    case when {{ sep_seq }} in ('01', '02', '03', '04', '05', '06') then 1
         when {{ sep_seq }} in ('07', '08', '09') then 2
         when {{ sep_seq }} = '19' then 4
         else 3 end
{%- endmacro %}

{#- Quarter-to-quarter transition class between two positions (main groups, plus registered
    jobseeker status), used by thm_quarterly_transitions and unit-tested there.
      work_to_work          working in both quarters (job change or not)
      into_unemployment     not unemployed before, unemployed now (benefit or NWWZ)
      out_of_unemployment   unemployed before, not unemployed now (into work or inactivity)
      into_work             not working and not unemployed before, working now
      into_inactivity       working before, neither working nor unemployed now
      stayed_unemployed / stayed_inactive  otherwise -#}
{% macro transition_type(from_working, from_unemployed, to_working, to_unemployed) -%}
    case
        when {{ from_working }} and {{ to_working }} then 'work_to_work'
        when {{ from_unemployed }} and {{ to_working }} then 'unemployment_to_work'
        when not {{ from_unemployed }} and {{ to_unemployed }} then 'into_unemployment'
        when {{ from_unemployed }} and not {{ to_unemployed }} then 'out_of_unemployment'
        when {{ from_working }} then 'into_inactivity'
        when {{ to_working }} then 'into_work'
        when {{ to_unemployed }} then 'stayed_unemployed'
        else 'stayed_inactive'
    end
{%- endmacro %}
