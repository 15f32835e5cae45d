-- Orders with their month (UTC) and their total in USD at that month's rate.
-- The order's month fixes the rate for the order, its items and its payments.

with orders as (

    select * from {{ ref('stg_orders') }}

),

rates as (

    select * from {{ ref('int_exchange_rates') }}

),

enriched as (

    select
        orders.order_id,
        orders.buyer_id,
        orders.status,
        orders.is_gmv_order,
        orders.currency,
        orders.order_total,
        rates.rate_to_usd,
        {{ to_usd('orders.order_total', 'rates.rate_to_usd') }} as order_total_usd,
        orders.created_at_utc,
        cast(orders.created_at_utc as date)                   as order_date,
        cast(date_trunc('month', orders.created_at_utc) as date) as order_month,
        orders.confirmed_at_utc,
        orders.updated_at_utc,
        orders._airbyte_extracted_at
    from orders
    left join rates
        on  rates.currency = orders.currency
        and rates.rate_month = cast(date_trunc('month', orders.created_at_utc) as date)

)

select * from enriched
