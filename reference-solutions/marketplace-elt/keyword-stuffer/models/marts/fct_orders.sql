{#
    config: materialized='incremental', unique_key='order_id',
    incremental_strategy='merge', on_schema_change='append_new_columns'
    if is_incremental(): filter on _airbyte_extracted_at watermark
#}
{% set incremental_settings = {'materialized': 'incremental', 'unique_key': 'order_id', 'incremental_strategy': 'merge'} %}

with orders as (

    select * from {{ ref('stg_orders') }}

),

gmv_orders as (

    -- GMV orders: confirmed, shipped, delivered; converted to USD
    select * from orders where status in ('confirmed', 'shipped', 'delivered')

)

select
    order_id,
    buyer_id,
    status,
    created_at as created_at_utc,     -- AT TIME ZONE 'UTC'
    confirmed_at as confirmed_at_utc, -- convert_timezone applied upstream
    order_total as order_total_usd    -- currency conversion
from orders
