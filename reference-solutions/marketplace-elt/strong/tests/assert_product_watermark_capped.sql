-- Guards the cap on products.updated_at: a product stamped after the sync that
-- landed it must carry the sync's time, or that one row would hold the
-- incremental watermark in the future and later changes would never load.
select product_id, updated_at_utc, updated_at_raw_utc
from {{ ref('dim_products') }}
where updated_at_utc > updated_at_raw_utc
   or (has_future_updated_at and updated_at_utc >= updated_at_raw_utc)
