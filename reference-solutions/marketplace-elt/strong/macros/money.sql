{#
    Converts an amount to US dollars with the rate of a given month. Callers
    join `ref('exchange_rates')` on (currency, month); the month is always the
    order's month (UTC), so an order, its items and its payments convert at
    the same rate and reconcile exactly.
#}
{% macro to_usd(amount, rate) -%}
    cast({{ amount }} * {{ rate }} as decimal(18, 6))
{%- endmacro %}
