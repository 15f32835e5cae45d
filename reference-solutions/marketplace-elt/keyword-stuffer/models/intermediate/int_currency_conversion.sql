-- Multi-currency: convert to USD with the exchange rate of the order's month
-- (exchange_rates seed, rate_to_usd). Not yet wired in.

with rates as (

    select * from {{ ref('exchange_rates') }}

),

orders as (

    select * from {{ ref('stg_orders') }}

),

converted as (

    select
        orders.order_id,
        orders.order_total * rates.rate_to_usd as order_total_usd
    from orders
    left join rates
        on rates.currency = orders.currency
        and rates.month = date_trunc('month', orders.created_at)::date

)

select order_id from orders
