//! truth.json against an independent recomputation over the written CSVs, done
//! the way a correct pipeline would: dedupe payments on event_id, convert with the
//! rate of the order's month, read confirmed_at as New York time, keep soft-deleted
//! buyers' sales.

mod generate_support;

use std::collections::{BTreeMap, BTreeSet};

use generate_support::*;
use serde_json::Value;

const GMV_STATUSES: [&str; 3] = ["confirmed", "shipped", "delivered"];

struct Recomputed {
    gmv_total: f64,
    gmv_orders: usize,
    daily: BTreeMap<String, f64>,
    unique_events: usize,
    captured_usd: f64,
    null_country: usize,
    non_deleted: usize,
    buyers_with_gmv: usize,
    cohorts: BTreeMap<String, (u64, u64)>,
    seller_gmv: BTreeMap<String, f64>,
    sellers: BTreeSet<String>,
    matched: usize,
    unmatched: BTreeSet<i64>,
}

fn recompute(snap: &str) -> Recomputed {
    let pack = default_pack();
    let orders = table(pack, snap, "orders");
    let items = table(pack, snap, "order_items");
    let pay = table(pack, snap, "payments");
    let users = table(pack, snap, "users");
    let products = table(pack, snap, "products");

    // order_id -> (status, currency, total cents, created month, created instant, buyer)
    let mut order = BTreeMap::new();
    for r in &orders.rows {
        let created = ts(orders.get(r, "created_at"));
        order.insert(
            orders.get(r, "order_id").to_string(),
            (
                orders.get(r, "status").to_string(),
                orders.get(r, "currency").to_string(),
                cents(orders.get(r, "order_total")),
                month_of(created),
                created,
                orders.get(r, "buyer_id").to_string(),
            ),
        );
    }
    let usd = |cents: i64, cur: &str, month: &str| cents as f64 / 100.0 * rate(cur, month);

    let mut gmv_total = 0.0;
    let mut gmv_orders = 0;
    let mut daily: BTreeMap<String, f64> = BTreeMap::new();
    let mut months_of_buyer: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (status, cur, total, month, created, buyer) in order.values() {
        if !GMV_STATUSES.contains(&status.as_str()) {
            continue;
        }
        let v = usd(*total, cur, month);
        gmv_total += v;
        gmv_orders += 1;
        *daily.entry(date_of(*created).to_string()).or_default() += v;
        months_of_buyer
            .entry(buyer.clone())
            .or_default()
            .insert(month.clone());
    }
    let mut cohorts: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for months in months_of_buyer.values() {
        let first = months.iter().next().expect("a month");
        let c = cohorts.entry(format!("{first}-01")).or_default();
        c.0 += 1;
        if months.iter().any(|m| m > first) {
            c.1 += 1;
        }
    }

    // Payments: one row per event_id.
    let mut events: BTreeMap<&str, &Vec<String>> = BTreeMap::new();
    for r in &pay.rows {
        events.entry(pay.get(r, "event_id")).or_insert(r);
    }
    let mut captured_usd = 0.0;
    let mut captured_by_order: BTreeMap<String, f64> = BTreeMap::new();
    for r in events.values() {
        if pay.get(r, "event_type") != "captured" {
            continue;
        }
        let o = &order[pay.get(r, "order_id")];
        let v = usd(cents(pay.get(r, "amount")), pay.get(r, "currency"), &o.3);
        captured_usd += v;
        *captured_by_order
            .entry(pay.get(r, "order_id").to_string())
            .or_default() += v;
    }
    let mut matched = 0;
    let mut unmatched = BTreeSet::new();
    for (id, (status, cur, total, month, _, _)) in &order {
        if !GMV_STATUSES.contains(&status.as_str()) {
            continue;
        }
        let cap = captured_by_order.get(id).copied().unwrap_or(0.0);
        if (cap - usd(*total, cur, month)).abs() <= 0.01 + 1e-9 {
            matched += 1;
        } else {
            unmatched.insert(id.parse::<i64>().expect("id"));
        }
    }

    let null_country = users
        .rows
        .iter()
        .filter(|r| users.get(r, "country_code").is_empty())
        .count();
    let non_deleted = users
        .rows
        .iter()
        .filter(|r| users.get(r, "deleted_at").is_empty())
        .count();
    let sellers: BTreeSet<String> = users
        .rows
        .iter()
        .filter(|r| matches!(users.get(r, "user_type"), "seller" | "both"))
        .map(|r| users.get(r, "user_id").to_string())
        .collect();
    let seller_of: BTreeMap<&str, &str> = products
        .rows
        .iter()
        .map(|r| (products.get(r, "product_id"), products.get(r, "seller_id")))
        .collect();
    let mut seller_gmv: BTreeMap<String, f64> = sellers.iter().map(|s| (s.clone(), 0.0)).collect();
    for r in &items.rows {
        let o = &order[items.get(r, "order_id")];
        if !GMV_STATUSES.contains(&o.0.as_str()) {
            continue;
        }
        let q: i64 = items.get(r, "quantity").parse().expect("quantity");
        let v = usd(
            q * cents(items.get(r, "unit_price")),
            items.get(r, "currency"),
            &o.3,
        );
        let seller = seller_of[items.get(r, "product_id")];
        *seller_gmv
            .get_mut(seller)
            .expect("product's seller is a seller") += v;
    }

    Recomputed {
        gmv_total,
        gmv_orders,
        daily,
        unique_events: events.len(),
        captured_usd,
        null_country,
        non_deleted,
        buyers_with_gmv: months_of_buyer.len(),
        cohorts,
        seller_gmv,
        sellers,
        matched,
        unmatched,
    }
}

fn f(v: &Value) -> f64 {
    v.as_f64().expect("number")
}

#[test]
fn truth_matches_an_independent_pipeline() {
    for snap in ["S1", "S2"] {
        let t = truth(default_pack(), snap);
        let r = recompute(snap);
        assert_eq!(t["snapshot"], snap);
        assert!(
            money_close(f(&t["gmv"]["total_usd"]), r.gmv_total),
            "{snap} GMV"
        );
        assert_eq!(t["gmv"]["orders"], r.gmv_orders, "{snap} GMV orders");
        let daily: BTreeMap<String, f64> = t["gmv"]["daily"]
            .as_array()
            .expect("daily")
            .iter()
            .map(|d| {
                (
                    d["date"].as_str().expect("date").to_string(),
                    f(&d["gmv_usd"]),
                )
            })
            .collect();
        assert_eq!(daily.len(), r.daily.len(), "{snap} GMV days");
        for (day, v) in &r.daily {
            assert!(money_close(daily[day], *v), "{snap} GMV on {day}");
        }
        assert_eq!(t["payments"]["unique_events"], r.unique_events, "{snap}");
        assert!(
            money_close(f(&t["payments"]["captured_usd"]), r.captured_usd),
            "{snap}"
        );
        assert_eq!(t["users"]["null_country_code"], r.null_country, "{snap}");
        assert_eq!(t["users"]["non_deleted"], r.non_deleted, "{snap}");
        assert_eq!(
            t["users"]["buyers_with_gmv_order"], r.buyers_with_gmv,
            "{snap}"
        );

        let cohorts: BTreeMap<String, (u64, u64)> = t["cohorts"]
            .as_array()
            .expect("cohorts")
            .iter()
            .map(|c| {
                (
                    c["cohort_month"].as_str().expect("month").to_string(),
                    (
                        c["buyers"].as_u64().expect("buyers"),
                        c["returning_buyers"].as_u64().expect("returning"),
                    ),
                )
            })
            .collect();
        assert_eq!(cohorts, r.cohorts, "{snap} cohorts");

        let rows = t["sellers"]["rows"].as_array().expect("seller rows");
        let ids: BTreeSet<String> = rows.iter().map(|s| s["seller_id"].to_string()).collect();
        assert_eq!(
            ids, r.sellers,
            "{snap}: every seller has a row, zero GMV included"
        );
        assert_eq!(t["sellers"]["count"], r.sellers.len());
        let mut sum = 0.0;
        for s in rows {
            let id = s["seller_id"].to_string();
            assert!(
                money_close(f(&s["gmv_usd"]), r.seller_gmv[&id]),
                "{snap} seller {id}"
            );
            sum += f(&s["gmv_usd"]);
            assert!(["bronze", "silver", "gold", "platinum"]
                .contains(&s["current_tier"].as_str().expect("tier")));
        }
        let seller_total: f64 = r.seller_gmv.values().sum();
        assert!(
            money_close(seller_total, r.gmv_total),
            "{snap}: sellers add up to GMV"
        );
        assert!((sum - f(&t["gmv"]["total_usd"])).abs() < 0.01 * rows.len() as f64);
        assert!(
            rows.iter().any(|s| f(&s["gmv_usd"]) == 0.0),
            "{snap}: a zero-GMV seller"
        );

        let rec = &t["reconciliation"];
        assert_eq!(rec["orders"], r.gmv_orders, "{snap}");
        assert_eq!(rec["matched"], r.matched, "{snap}");
        assert_eq!(rec["unmatched"], r.unmatched.len(), "{snap}");
        let ids: BTreeSet<i64> = rec["unmatched_order_ids"]
            .as_array()
            .expect("ids")
            .iter()
            .map(|v| v.as_i64().expect("id"))
            .collect();
        assert_eq!(ids, r.unmatched, "{snap} unmatched orders");
        assert!(r.matched > 0 && !r.unmatched.is_empty());
    }
}

#[test]
fn truth_covers_the_documented_keys() {
    let doc = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/marketplace-elt/TRUTH.md"),
    )
    .expect("TRUTH.md");
    let t = truth(default_pack(), "S1");
    let mut keys = Vec::new();
    collect_keys(&t, "", &mut keys);
    for k in keys {
        assert!(
            doc.contains(&format!("`{k}`")),
            "truth key {k} is not documented in TRUTH.md"
        );
    }
}

fn collect_keys(v: &Value, prefix: &str, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                // Trap entries share one documented shape: traps.T<n>.<field>.
                let name = if prefix == "traps" {
                    "traps.T<n>".to_string()
                } else if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                if !out.contains(&name) {
                    out.push(name.clone());
                }
                // Maps keyed by a value (status, currency, event type) are
                // documented as a whole.
                let is_map = matches!(
                    name.as_str(),
                    "payments.events_by_type" | "orders.by_status" | "orders.by_currency"
                );
                if !is_map {
                    collect_keys(child, &name, out);
                }
            }
        }
        Value::Array(items) => {
            if let Some(first) = items.first() {
                collect_keys(first, &format!("{prefix}[]"), out);
            }
        }
        _ => {}
    }
}
