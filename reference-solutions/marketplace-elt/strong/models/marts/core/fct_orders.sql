{{
    config(
        materialized='incremental',
        unique_key='order_id',
        incremental_strategy='merge',
        on_schema_change='append_new_columns'
    )
}}

-- One row per order. Incremental on the loader's extraction time, never on
-- the application's updated_at: the loader's clock is the one that says what
-- is new in the warehouse. The watermark is inclusive (>=) and the merge on
-- order_id makes reprocessing the last batch harmless, so a re-run with no
-- new data changes nothing.

with orders as (

    select
        order_id, buyer_id, status, is_gmv_order, currency, order_total,
        rate_to_usd, order_total_usd, created_at_utc, order_date, order_month,
        confirmed_at_utc, updated_at_utc, _airbyte_extracted_at
    from {{ ref('int_orders_enriched') }}

    {% if is_incremental() %}
    where _airbyte_extracted_at >= (
        select coalesce(max(_airbyte_extracted_at), timestamptz '1970-01-01 00:00:00+00')
        from {{ this }}
    )
    {% endif %}

)

select
    order_id,
    buyer_id,
    status,
    is_gmv_order,
    currency,
    order_total,
    rate_to_usd,
    order_total_usd,
    created_at_utc,
    order_date,
    order_month,
    confirmed_at_utc,
    date_diff('minute', created_at_utc, confirmed_at_utc) as minutes_to_confirm,
    updated_at_utc,
    _airbyte_extracted_at
from orders
