-- Profiling users and reviews (T4, T5, T8).

-- T4 and T5: soft-deleted users and users without a country.
select
    count(*) as users,
    count(*) filter (where deleted_at is not null) as soft_deleted,
    count(*) filter (where country_code is null) as without_country
from {{ source('marketplace', 'users') }};

-- T8: reviews whose (order_id, product_id) is not a purchased line item.
select count(*) as unverified_reviews
from {{ source('marketplace', 'reviews') }} as r
left join {{ source('marketplace', 'order_items') }} as i
    on r.order_id = i.order_id and r.product_id = i.product_id
where i.order_id is null;
