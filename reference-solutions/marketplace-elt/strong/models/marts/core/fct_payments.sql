{{
    config(
        materialized='incremental',
        unique_key='event_id',
        incremental_strategy='merge',
        on_schema_change='append_new_columns'
    )
}}

-- One row per payment event (stg_payments already keeps one delivery per
-- event_id). Amounts convert at the rate of the order's month so that a
-- captured payment matches its order to the cent. Incremental on the
-- extraction time; re-delivered events merge onto the row already there.

with payments as (

    select
        event_id, order_id, event_type, payment_method, amount, currency,
        event_at, _airbyte_extracted_at
    from {{ ref('stg_payments') }}

    {% if is_incremental() %}
    where _airbyte_extracted_at >= (
        select coalesce(max(_airbyte_extracted_at), timestamptz '1970-01-01 00:00:00+00')
        from {{ this }}
    )
    {% endif %}

),

orders as (

    select order_id, order_month
    from {{ ref('int_orders_enriched') }}

),

rates as (

    select currency, rate_month, rate_to_usd
    from {{ ref('int_exchange_rates') }}

)

select
    payments.event_id,
    payments.order_id,
    payments.event_type,
    payments.payment_method,
    payments.amount,
    payments.currency,
    {{ to_usd('payments.amount', 'rates.rate_to_usd') }} as amount_usd,
    payments.event_at                                     as event_at_utc,
    orders.order_month,
    payments._airbyte_extracted_at
from payments
left join orders
    on orders.order_id = payments.order_id
left join rates
    on  rates.currency = payments.currency
    -- a payment for an order we have not seen yet falls back to its own month
    and rates.rate_month = coalesce(
        orders.order_month,
        cast(date_trunc('month', payments.event_at) as date)
    )
