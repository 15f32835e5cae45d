{#
    Every *_utc column in this project is a naive TIMESTAMP meaning UTC, so
    that date and month truncation never depend on the session time zone.
#}

{% macro to_utc(column) -%}
    ({{ column }} at time zone 'UTC')
{%- endmacro %}

{#
    For columns a service wrote as wall-clock time without a zone: interpret
    the value in `source_tz` (DST-aware, via the IANA database), then express
    the instant in UTC.
#}
{% macro local_naive_to_utc(column, source_tz) -%}
    ((cast({{ column }} as timestamp) at time zone '{{ source_tz }}') at time zone 'UTC')
{%- endmacro %}
