//! truth.json: every figure a hidden check compares against, computed from the
//! clean world model at a sync instant (never from the landed, dirty rows).
//! Key names and definitions are documented in fixtures/marketplace-elt/TRUTH.md.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::rates::{e4_to_dollars, to_usd_e4, Currency};
use super::time::{day_index, fmt_date, fmt_month, fmt_utc, utc_to_new_york_wall};
use super::world::{EventType, Status, World};

#[derive(Debug, Clone, Serialize)]
pub struct Truth {
    pub exercise: String,
    pub snapshot: String,
    pub sync_at: String,
    pub generator_version: String,
    pub seed: u64,
    pub scale: u32,
    pub payments: PaymentsTruth,
    pub gmv: GmvTruth,
    pub users: UsersTruth,
    pub sellers: SellersTruth,
    pub reconciliation: ReconciliationTruth,
    pub cohorts: Vec<CohortRow>,
    pub orders: OrdersTruth,
    pub traps: BTreeMap<String, TrapTruth>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PaymentsTruth {
    pub rows: u64,
    pub unique_events: u64,
    pub events_by_type: BTreeMap<String, u64>,
    pub captured_usd: f64,
    pub refunded_usd: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct GmvTruth {
    pub total_usd: f64,
    pub orders: u64,
    pub daily: Vec<GmvDay>,
}

#[derive(Debug, Clone, Serialize)]
pub struct GmvDay {
    pub date: String,
    pub gmv_usd: f64,
    pub orders: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct UsersTruth {
    pub total: u64,
    pub non_deleted: u64,
    pub deleted: u64,
    pub deleted_with_orders: u64,
    pub null_country_code: u64,
    pub buyers_with_gmv_order: u64,
    pub non_deleted_buyers_with_gmv_order: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct SellersTruth {
    pub count: u64,
    pub with_gmv: u64,
    pub gmv_usd_total: f64,
    pub rows: Vec<SellerRow>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SellerRow {
    pub seller_id: i64,
    pub gmv_usd: f64,
    pub current_tier: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReconciliationTruth {
    pub orders: u64,
    pub matched: u64,
    pub unmatched: u64,
    pub order_total_usd_total: f64,
    pub captured_usd_total: f64,
    pub unmatched_order_ids: Vec<i64>,
    /// One record per GMV order: what its reconciliation row must say.
    pub rows: Vec<ReconciliationRow>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReconciliationRow {
    pub order_id: i64,
    pub currency: String,
    pub order_total_usd: f64,
    pub captured_usd: f64,
    pub is_matched: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct CohortRow {
    pub cohort_month: String,
    pub buyers: u64,
    pub returning_buyers: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct OrdersTruth {
    pub total: u64,
    /// Orders with a confirmation instant.
    pub confirmed: u64,
    /// One record per order: the figures a correct `fct_orders` row holds.
    pub rows: Vec<OrderRow>,
    pub by_status: BTreeMap<String, u64>,
    pub by_currency: BTreeMap<String, u64>,
    pub confirmed_before_created_if_read_as_utc: OrderIdSet,
}

#[derive(Debug, Clone, Serialize)]
pub struct OrderRow {
    pub order_id: i64,
    pub status: String,
    pub currency: String,
    pub created_at_utc: String,
    /// The true confirmation instant (the naive New York wall time converted),
    /// or null when the order was never confirmed.
    pub confirmed_at_utc: Option<String>,
    pub order_total_usd: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct OrderIdSet {
    pub count: u64,
    pub order_ids: Vec<i64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TrapTruth {
    pub table: String,
    pub population: u64,
    pub affected_rows: u64,
    pub rate: f64,
    #[serde(flatten)]
    pub extra: BTreeMap<String, u64>,
}

fn trap(table: &str, population: u64, affected: u64, extra: &[(&str, u64)]) -> TrapTruth {
    let rate = if population == 0 {
        0.0
    } else {
        ((affected as f64 / population as f64) * 1e6).round() / 1e6
    };
    TrapTruth {
        table: table.to_string(),
        population,
        affected_rows: affected,
        rate,
        extra: extra.iter().map(|(k, v)| ((*k).to_string(), *v)).collect(),
    }
}

pub(crate) struct TruthMeta<'a> {
    pub snapshot: &'a str,
    pub generator_version: &'a str,
    pub seed: u64,
    pub scale: u32,
}

pub(crate) fn compute(w: &World, at: i64, meta: &TruthMeta<'_>) -> Truth {
    let visible_orders: Vec<_> = w.orders.iter().filter(|o| o.visible(at)).collect();
    let mut events_of: Vec<Vec<usize>> = vec![Vec::new(); w.orders.len()];
    for (i, p) in w.payments.iter().enumerate() {
        if p.visible(at) {
            events_of[(p.order_id - 1) as usize].push(i);
        }
    }

    // ---- payments
    let mut rows = 0u64;
    let mut unique = 0u64;
    let mut by_type: BTreeMap<String, u64> = BTreeMap::new();
    let mut captured_e4 = 0i64;
    let mut refunded_e4 = 0i64;
    let mut dup_events = 0u64;
    for p in w.payments.iter().filter(|p| p.visible(at)) {
        unique += 1;
        let landed = p.deliveries.iter().filter(|r| **r <= at).count() as u64;
        rows += landed;
        if landed > 1 {
            dup_events += 1;
        }
        *by_type.entry(p.etype.code().to_string()).or_default() += 1;
        let created = w.order(p.order_id).created_at;
        match p.etype {
            EventType::Captured => captured_e4 += to_usd_e4(p.amount_cents, p.currency, created),
            EventType::Refunded => refunded_e4 += to_usd_e4(p.amount_cents, p.currency, created),
            _ => {}
        }
    }

    // ---- GMV, sellers, reconciliation, cohorts
    let mut gmv_e4 = 0i64;
    let mut gmv_orders = 0u64;
    let mut daily: BTreeMap<i64, (i64, u64)> = BTreeMap::new();
    let mut seller_e4: BTreeMap<i64, i64> = BTreeMap::new();
    let mut recon_total_e4 = 0i64;
    let mut recon_captured_e4 = 0i64;
    let mut matched = 0u64;
    let mut unmatched_ids = Vec::new();
    let mut recon_rows = Vec::new();
    let mut buyer_months: BTreeMap<i64, BTreeSet<String>> = BTreeMap::new();
    for o in &visible_orders {
        let (status, _) = o.status_at(at);
        if !status.is_gmv() {
            continue;
        }
        let total_e4 = to_usd_e4(o.total_cents, o.currency, o.created_at);
        gmv_e4 += total_e4;
        gmv_orders += 1;
        let d = daily.entry(day_index(o.created_at)).or_default();
        d.0 += total_e4;
        d.1 += 1;
        for it in &w.items[o.items.clone()] {
            let seller = w.product(it.product_id).seller_id;
            *seller_e4.entry(seller).or_default() +=
                to_usd_e4(it.unit_price_cents * it.quantity, o.currency, o.created_at);
        }
        let cap: i64 = events_of[(o.id - 1) as usize]
            .iter()
            .map(|&i| &w.payments[i])
            .filter(|p| p.etype == EventType::Captured)
            .map(|p| to_usd_e4(p.amount_cents, p.currency, o.created_at))
            .sum();
        recon_total_e4 += total_e4;
        recon_captured_e4 += cap;
        // |captured_usd − order_total_usd| ≤ 0.01 USD = 100 ten-thousandths.
        let is_matched = (cap - total_e4).abs() <= 100;
        if is_matched {
            matched += 1;
        } else {
            unmatched_ids.push(o.id);
        }
        recon_rows.push(ReconciliationRow {
            order_id: o.id,
            currency: o.currency.code().to_string(),
            order_total_usd: e4_to_dollars(total_e4),
            captured_usd: e4_to_dollars(cap),
            is_matched,
        });
        buyer_months
            .entry(o.buyer_id)
            .or_default()
            .insert(fmt_month(o.created_at));
    }
    let mut cohorts: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for months in buyer_months.values() {
        if let Some(first) = months.iter().next() {
            let c = cohorts.entry(first.clone()).or_default();
            c.0 += 1;
            if months.len() > 1 {
                c.1 += 1;
            }
        }
    }

    // ---- users and sellers
    let visible_users: Vec<_> = w.users.iter().filter(|u| u.visible(at)).collect();
    let mut has_order = vec![false; w.users.len()];
    for o in &visible_orders {
        has_order[(o.buyer_id - 1) as usize] = true;
    }
    let deleted = visible_users
        .iter()
        .filter(|u| u.deleted_at(at).is_some())
        .count() as u64;
    let deleted_with_orders = visible_users
        .iter()
        .filter(|u| u.deleted_at(at).is_some() && has_order[(u.id - 1) as usize])
        .count() as u64;
    let null_country = visible_users.iter().filter(|u| u.country.is_none()).count() as u64;
    let non_deleted_buyers = buyer_months
        .keys()
        .filter(|b| w.user(**b).deleted_at(at).is_none())
        .count() as u64;
    let current_tier: BTreeMap<i64, &str> = w
        .tiers
        .iter()
        .filter(|t| t.valid_from <= at && t.valid_to.is_none_or(|v| v > at))
        .map(|t| (t.seller_id, t.tier))
        .collect();
    let mut seller_rows = Vec::new();
    for u in visible_users.iter().filter(|u| u.kind.sells()) {
        let tier = current_tier.get(&u.id).copied().unwrap_or("bronze");
        seller_rows.push(SellerRow {
            seller_id: u.id,
            gmv_usd: e4_to_dollars(seller_e4.get(&u.id).copied().unwrap_or(0)),
            current_tier: tier.to_string(),
        });
    }
    let sellers_total_e4: i64 = seller_e4.values().sum();

    // ---- orders
    let mut by_status: BTreeMap<String, u64> = Status::ALL
        .iter()
        .map(|s| (s.code().to_string(), 0))
        .collect();
    let mut by_currency: BTreeMap<String, u64> = Currency::ALL
        .iter()
        .map(|c| (c.code().to_string(), 0))
        .collect();
    let mut misread = Vec::new();
    let mut confirmed = 0u64;
    let mut order_rows = Vec::with_capacity(visible_orders.len());
    for o in &visible_orders {
        let status = o.status_at(at).0.code().to_string();
        order_rows.push(OrderRow {
            order_id: o.id,
            status: status.clone(),
            currency: o.currency.code().to_string(),
            created_at_utc: fmt_utc(o.created_at),
            confirmed_at_utc: o.confirmed_at(at).map(fmt_utc),
            order_total_usd: e4_to_dollars(to_usd_e4(o.total_cents, o.currency, o.created_at)),
        });
        *by_status.entry(status).or_default() += 1;
        *by_currency
            .entry(o.currency.code().to_string())
            .or_default() += 1;
        if let Some(c) = o.confirmed_at(at) {
            confirmed += 1;
            if utc_to_new_york_wall(c) < o.created_at {
                misread.push(o.id);
            }
        }
    }

    // ---- traps, from the generator's own overlay bookkeeping
    let mut traps = BTreeMap::new();
    traps.insert(
        "T1".to_string(),
        trap(
            "payments",
            unique,
            dup_events,
            &[("landed_rows", rows), ("extra_rows", rows - unique)],
        ),
    );
    let vis_products: Vec<_> = w.products.iter().filter(|p| p.created_at <= at).collect();
    let skewed = vis_products
        .iter()
        .filter(|p| p.skew.is_some_and(|s| p.version_at(at).at + s > at))
        .count() as u64;
    traps.insert(
        "T2".to_string(),
        trap("products", vis_products.len() as u64, skewed, &[]),
    );
    traps.insert(
        "T3".to_string(),
        trap("orders", confirmed, misread.len() as u64, &[]),
    );
    traps.insert(
        "T4".to_string(),
        trap(
            "users",
            visible_users.len() as u64,
            deleted,
            &[("deleted_with_orders", deleted_with_orders)],
        ),
    );
    traps.insert(
        "T5".to_string(),
        trap("users", visible_users.len() as u64, null_country, &[]),
    );
    let non_usd_orders = visible_orders
        .iter()
        .filter(|o| o.currency != Currency::Usd)
        .count() as u64;
    let non_usd_products = vis_products
        .iter()
        .filter(|p| p.currency != Currency::Usd)
        .count() as u64;
    traps.insert(
        "T6".to_string(),
        trap(
            "orders",
            visible_orders.len() as u64,
            non_usd_orders,
            &[("non_usd_products", non_usd_products)],
        ),
    );
    let log_rows: Vec<_> = w.log.iter().filter(|r| r.recorded_at <= at).collect();
    let ooo = log_rows.iter().filter(|r| r.out_of_order).count() as u64;
    traps.insert(
        "T7".to_string(),
        trap("event_log", log_rows.len() as u64, ooo, &[]),
    );
    let vis_reviews: Vec<_> = w.reviews.iter().filter(|r| r.created_at <= at).collect();
    let orphans = vis_reviews
        .iter()
        .filter(|r| r.orphan_order_id.is_some())
        .count() as u64;
    traps.insert(
        "T8".to_string(),
        trap("reviews", vis_reviews.len() as u64, orphans, &[]),
    );

    Truth {
        exercise: super::EXERCISE.to_string(),
        snapshot: meta.snapshot.to_string(),
        sync_at: fmt_utc(at),
        generator_version: meta.generator_version.to_string(),
        seed: meta.seed,
        scale: meta.scale,
        payments: PaymentsTruth {
            rows,
            unique_events: unique,
            events_by_type: by_type,
            captured_usd: e4_to_dollars(captured_e4),
            refunded_usd: e4_to_dollars(refunded_e4),
        },
        gmv: GmvTruth {
            total_usd: e4_to_dollars(gmv_e4),
            orders: gmv_orders,
            daily: daily
                .into_iter()
                .map(|(day, (e4, n))| GmvDay {
                    date: fmt_date(day * super::time::DAY),
                    gmv_usd: e4_to_dollars(e4),
                    orders: n,
                })
                .collect(),
        },
        users: UsersTruth {
            total: visible_users.len() as u64,
            non_deleted: visible_users.len() as u64 - deleted,
            deleted,
            deleted_with_orders,
            null_country_code: null_country,
            buyers_with_gmv_order: buyer_months.len() as u64,
            non_deleted_buyers_with_gmv_order: non_deleted_buyers,
        },
        sellers: SellersTruth {
            count: seller_rows.len() as u64,
            with_gmv: seller_rows.iter().filter(|r| r.gmv_usd > 0.0).count() as u64,
            gmv_usd_total: e4_to_dollars(sellers_total_e4),
            rows: seller_rows,
        },
        reconciliation: ReconciliationTruth {
            orders: gmv_orders,
            matched,
            unmatched: unmatched_ids.len() as u64,
            order_total_usd_total: e4_to_dollars(recon_total_e4),
            captured_usd_total: e4_to_dollars(recon_captured_e4),
            unmatched_order_ids: unmatched_ids,
            rows: recon_rows,
        },
        cohorts: cohorts
            .into_iter()
            .map(|(m, (b, r))| CohortRow {
                cohort_month: m,
                buyers: b,
                returning_buyers: r,
            })
            .collect(),
        orders: OrdersTruth {
            total: visible_orders.len() as u64,
            confirmed,
            rows: order_rows,
            by_status,
            by_currency,
            confirmed_before_created_if_read_as_utc: OrderIdSet {
                count: misread.len() as u64,
                order_ids: misread,
            },
        },
        traps,
    }
}
