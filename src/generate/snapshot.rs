//! The raw tables as the loader lands them at one sync: views of the clean world
//! at the sync instant, with the trap overlays applied.

use sha2::{Digest, Sha256};

use super::rates::fmt_cents;
use super::time::{fmt_naive, fmt_utc, utc_to_new_york_wall};
use super::world::World;

pub(crate) struct Row {
    /// Identity of the landed row (primary key; one delivery for payments).
    pub key: String,
    pub cells: Vec<Option<String>>,
}

/// Rows are produced lazily so that a large table never sits in memory whole.
pub(crate) struct Table<'a> {
    pub name: &'static str,
    pub columns: &'static [&'static str],
    pub rows: Box<dyn Iterator<Item = Row> + 'a>,
}

fn s<T: ToString>(v: T) -> Option<String> {
    Some(v.to_string())
}

pub(crate) fn tables_at(w: &World, at: i64) -> Vec<Table<'_>> {
    vec![
        users(w, at),
        categories(w),
        products(w, at),
        orders(w, at),
        order_items(w, at),
        payments(w, at),
        reviews(w, at),
        tiers(w, at),
        event_log(w, at),
    ]
}

fn users(w: &World, at: i64) -> Table<'_> {
    let rows = w
        .users
        .iter()
        .filter(move |u| u.visible(at))
        .map(move |u| Row {
            key: u.id.to_string(),
            cells: vec![
                s(u.id),
                s(&u.email),
                s(&u.full_name),
                s(u.kind.code()),
                u.country.map(str::to_string),
                s(fmt_utc(u.created_at)),
                s(fmt_utc(u.updated_at(at))),
                u.deleted_at(at).map(fmt_utc),
            ],
        });
    Table {
        name: "users",
        columns: &[
            "user_id",
            "email",
            "full_name",
            "user_type",
            "country_code",
            "created_at",
            "updated_at",
            "deleted_at",
        ],
        rows: Box::new(rows),
    }
}

fn categories(w: &World) -> Table<'_> {
    let rows = w.categories.iter().map(move |c| Row {
        key: c.id.to_string(),
        cells: vec![s(c.id), s(&c.name), c.parent.map(move |p| p.to_string())],
    });
    Table {
        name: "categories",
        columns: &["category_id", "name", "parent_category_id"],
        rows: Box::new(rows),
    }
}

fn products(w: &World, at: i64) -> Table<'_> {
    let rows = w
        .products
        .iter()
        .filter(move |p| p.created_at <= at)
        .map(move |p| {
            let v = p.version_at(at);
            Row {
                key: p.id.to_string(),
                cells: vec![
                    s(p.id),
                    s(p.seller_id),
                    s(p.category_id),
                    s(&p.title),
                    s(fmt_cents(v.price_cents)),
                    s(p.currency.code()),
                    s(v.active),
                    s(fmt_utc(p.created_at)),
                    s(fmt_utc(v.at + p.skew.unwrap_or(0))),
                ],
            }
        });
    Table {
        name: "products",
        columns: &[
            "product_id",
            "seller_id",
            "category_id",
            "title",
            "price",
            "currency",
            "is_active",
            "created_at",
            "updated_at",
        ],
        rows: Box::new(rows),
    }
}

fn orders(w: &World, at: i64) -> Table<'_> {
    let rows = w
        .orders
        .iter()
        .filter(move |o| o.visible(at))
        .map(move |o| {
            let (status, updated) = o.status_at(at);
            Row {
                key: o.id.to_string(),
                cells: vec![
                    s(o.id),
                    s(o.buyer_id),
                    s(status.code()),
                    s(o.currency.code()),
                    s(fmt_cents(o.total_cents)),
                    s(fmt_utc(o.created_at)),
                    o.confirmed_at(at)
                        .map(move |c| fmt_naive(utc_to_new_york_wall(c))),
                    s(fmt_utc(updated)),
                ],
            }
        });
    Table {
        name: "orders",
        columns: &[
            "order_id",
            "buyer_id",
            "status",
            "currency",
            "order_total",
            "created_at",
            "confirmed_at",
            "updated_at",
        ],
        rows: Box::new(rows),
    }
}

fn order_items(w: &World, at: i64) -> Table<'_> {
    let rows = w
        .orders
        .iter()
        .filter(move |o| o.visible(at))
        .flat_map(move |o| {
            w.items[o.items.clone()].iter().map(move |it| Row {
                key: it.id.to_string(),
                cells: vec![
                    s(it.id),
                    s(it.order_id),
                    s(it.product_id),
                    s(it.quantity),
                    s(fmt_cents(it.unit_price_cents)),
                    s(o.currency.code()),
                ],
            })
        });
    Table {
        name: "order_items",
        columns: &[
            "order_item_id",
            "order_id",
            "product_id",
            "quantity",
            "unit_price",
            "currency",
        ],
        rows: Box::new(rows),
    }
}

fn payments(w: &World, at: i64) -> Table<'_> {
    let mut landed: Vec<(i64, usize, usize)> = Vec::new();
    for (i, p) in w.payments.iter().enumerate() {
        for (k, r) in p.deliveries.iter().enumerate() {
            if *r <= at {
                landed.push((*r, i, k));
            }
        }
    }
    // Arrival order, ties broken by event then delivery: stable across runs.
    landed.sort_by(|a, b| {
        (a.0, &w.payments[a.1].event_id, a.2).cmp(&(b.0, &w.payments[b.1].event_id, b.2))
    });
    let rows = landed.into_iter().map(move |(received, i, k)| {
        let p = &w.payments[i];
        Row {
            key: format!("{}#{k}", p.event_id),
            cells: vec![
                s(&p.event_id),
                s(p.order_id),
                s(p.etype.code()),
                s(fmt_cents(p.amount_cents)),
                s(p.currency.code()),
                s(p.method.code()),
                s(fmt_utc(p.event_at)),
                s(fmt_utc(received)),
            ],
        }
    });
    Table {
        name: "payments",
        columns: &[
            "event_id",
            "order_id",
            "event_type",
            "amount",
            "currency",
            "payment_method",
            "event_at",
            "received_at",
        ],
        rows: Box::new(rows),
    }
}

fn reviews(w: &World, at: i64) -> Table<'_> {
    let rows = w
        .reviews
        .iter()
        .filter(move |r| r.created_at <= at)
        .map(move |r| Row {
            key: r.id.to_string(),
            cells: vec![
                s(r.id),
                s(r.product_id),
                r.orphan_order_id.or(r.order_id).map(move |o| o.to_string()),
                s(r.reviewer_id),
                s(r.rating),
                r.body.clone(),
                s(fmt_utc(r.created_at)),
            ],
        });
    Table {
        name: "reviews",
        columns: &[
            "review_id",
            "product_id",
            "order_id",
            "reviewer_id",
            "rating",
            "body",
            "created_at",
        ],
        rows: Box::new(rows),
    }
}

fn tiers(w: &World, at: i64) -> Table<'_> {
    let rows = w
        .tiers
        .iter()
        .filter(move |t| t.valid_from <= at)
        .map(move |t| Row {
            key: format!("{}@{}", t.seller_id, t.valid_from),
            cells: vec![
                s(t.seller_id),
                s(t.tier),
                s(fmt_utc(t.valid_from)),
                t.valid_to.filter(move |v| *v <= at).map(fmt_utc),
            ],
        });
    Table {
        name: "seller_tier_history",
        columns: &["seller_id", "tier", "valid_from", "valid_to"],
        rows: Box::new(rows),
    }
}

fn event_log(w: &World, at: i64) -> Table<'_> {
    let rows = w
        .log
        .iter()
        .filter(move |r| r.recorded_at <= at)
        .map(move |r| Row {
            key: r.log_id.to_string(),
            cells: vec![
                s(r.log_id),
                s(r.entity.code()),
                s(r.entity_id),
                s(r.operation),
                s(&r.payload),
                s(r.seq),
                s(fmt_utc(r.occurred_at)),
                s(fmt_utc(r.recorded_at)),
            ],
        });
    Table {
        name: "event_log",
        columns: &[
            "log_id",
            "entity_type",
            "entity_id",
            "operation",
            "payload",
            "sequence_number",
            "occurred_at",
            "recorded_at",
        ],
        rows: Box::new(rows),
    }
}

/// Identity of a landed row: a digest of the table, the row's key and content,
/// so an unchanged row keeps its loader id from one sync to the next.
pub(crate) fn raw_digest(seed: u64, table: &str, row: &Row) -> [u8; 16] {
    let mut h = Sha256::new();
    h.update(seed.to_le_bytes());
    h.update(table.as_bytes());
    h.update([0]);
    h.update(row.key.as_bytes());
    for c in &row.cells {
        h.update([0]);
        match c {
            Some(v) => {
                h.update([1]);
                h.update(v.as_bytes());
            }
            None => h.update([2]),
        }
    }
    let d = h.finalize();
    let mut out = [0u8; 16];
    out.copy_from_slice(&d[..16]);
    out
}

/// UUID-shaped text of a row digest, as the loader's `_airbyte_raw_id`.
pub(crate) fn fmt_raw_id(d: &[u8; 16]) -> String {
    let x = hex::encode(d);
    format!(
        "{}-{}-4{}-a{}-{}",
        &x[0..8],
        &x[8..12],
        &x[13..16],
        &x[17..20],
        &x[20..32]
    )
}
