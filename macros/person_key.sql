{#- A compact join key for a person: the first 15 hex digits (60 bits) of the TTP pseudonym
    as a BIGINT. Pseudonyms are HMAC outputs, so the prefix is uniformly distributed; joins
    and group-bys on an 8-byte integer instead of a 32-character string are what let the
    140 M-row panel build in minutes (reference/perf/REPORT.md §4). The key stays inside
    the integrated layer (thematic datasets and extracts carry person_id only), and the test
    person_key_is_one_to_one on int_persons fails the build should two pseudonyms ever share
    a prefix (probability ~2e-5 at 7.5 M persons). -#}
{% macro person_key(person_id) -%}
    {{ return(adapter.dispatch('person_key', 'sdwh')(person_id)) }}
{%- endmacro %}

{#- DuckDB parses a '0x' hex literal in a cast to an integer. -#}
{% macro duckdb__person_key(person_id) -%}
    cast(concat('0x', substr({{ person_id }}, 1, 15)) as {{ dbt.type_bigint() }})
{%- endmacro %}

{% macro spark__person_key(person_id) -%}
    cast(conv(substr({{ person_id }}, 1, 15), 16, 10) as {{ dbt.type_bigint() }})
{%- endmacro %}

{% macro trino__person_key(person_id) -%}
    from_base(substr({{ person_id }}, 1, 15), 16)
{%- endmacro %}

{% macro default__person_key(person_id) -%}
    {{ exceptions.raise_compiler_error("macro person_key has no implementation for " ~ target.type) }}
{%- endmacro %}
