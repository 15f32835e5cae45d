//! Every trap of SPEC section 2, measured by profiling the written CSVs of both
//! snapshots the way a data engineer would explore a new source.

mod generate_support;

use std::collections::{BTreeMap, BTreeSet};

use generate_support::*;

const SNAPSHOTS: [&str; 2] = ["S1", "S2"];

#[test]
fn t1_duplicate_payment_events() {
    let pack = default_pack();
    for snap in SNAPSHOTS {
        let p = table(pack, snap, "payments");
        let id = p.col("event_id");
        let received = p.col("received_at");
        let mut by_event: BTreeMap<&str, Vec<&Vec<String>>> = BTreeMap::new();
        for r in &p.rows {
            by_event.entry(&r[id]).or_default().push(r);
        }
        let dup = by_event.values().filter(|v| v.len() > 1).count();
        assert_rate("T1", snap, dup, by_event.len(), (0.03, 0.06));
        for rows in by_event.values() {
            assert!(
                rows.len() <= 3,
                "{snap}: an event delivered more than three times"
            );
            let payload = |r: &Vec<String>| {
                let mut v = r.clone();
                v.truncate(received);
                v
            };
            let first = rows
                .iter()
                .min_by_key(|r| ts(&r[received]))
                .expect("one row");
            for r in rows {
                assert_eq!(
                    payload(r),
                    payload(first),
                    "{snap}: duplicate with other payload"
                );
            }
            let raw: BTreeSet<&str> = rows.iter().map(|r| p.get(r, "_airbyte_raw_id")).collect();
            assert_eq!(raw.len(), rows.len(), "{snap}: duplicate shares a raw id");
        }
    }
}

#[test]
fn t2_future_product_updates() {
    let pack = default_pack();
    for snap in SNAPSHOTS {
        let p = table(pack, snap, "products");
        let at = sync(snap);
        let future: Vec<i64> = p
            .rows
            .iter()
            .map(|r| ts(p.get(r, "updated_at")))
            .filter(|u| *u > at)
            .collect();
        assert_rate("T2", snap, future.len(), p.rows.len(), (0.02, 0.04));
        for u in future {
            assert!(u - at <= 400 * 86_400, "{snap}: skew beyond 400 days");
        }
    }
}

#[test]
fn t3_confirmed_at_is_new_york_wall_time() {
    let pack = default_pack();
    for snap in SNAPSHOTS {
        let o = table(pack, snap, "orders");
        let mut confirmed = 0;
        let mut misread = 0;
        let mut offsets = BTreeSet::new();
        for r in &o.rows {
            let local = o.get(r, "confirmed_at");
            if local.is_empty() {
                continue;
            }
            confirmed += 1;
            let created = ts(o.get(r, "created_at"));
            let utc = new_york_to_utc(local);
            let delay = utc - created;
            assert!(
                (300..=10_800).contains(&delay),
                "{snap}: order {} confirmed {delay}s after creation",
                o.get(r, "order_id")
            );
            let as_utc = chrono::NaiveDateTime::parse_from_str(local, "%Y-%m-%d %H:%M:%S")
                .expect("naive")
                .and_utc()
                .timestamp();
            if as_utc < created {
                misread += 1;
            }
            offsets.insert(as_utc - utc);
        }
        assert!(confirmed > 1000, "{snap}: too few confirmed orders");
        assert!(
            misread > 0,
            "{snap}: no order looks confirmed before creation when misread"
        );
        let t = truth(pack, snap);
        assert_eq!(
            t["orders"]["confirmed_before_created_if_read_as_utc"]["count"], misread,
            "{snap}"
        );
        assert_eq!(
            offsets.into_iter().collect::<Vec<_>>(),
            [-5 * 3600, -4 * 3600],
            "{snap}: both standard and daylight time occur"
        );
    }
}

#[test]
fn t4_t5_soft_deletes_and_missing_countries() {
    let pack = default_pack();
    let mut deleted_by_snap = Vec::new();
    for snap in SNAPSHOTS {
        let u = table(pack, snap, "users");
        let o = table(pack, snap, "orders");
        let deleted: BTreeSet<&str> = u
            .rows
            .iter()
            .filter(|r| !u.get(r, "deleted_at").is_empty())
            .map(|r| u.get(r, "user_id"))
            .collect();
        assert_rate("T4", snap, deleted.len(), u.rows.len(), (0.04, 0.07));
        let with_orders: BTreeSet<&str> = o
            .rows
            .iter()
            .map(|r| o.get(r, "buyer_id"))
            .filter(|b| deleted.contains(b))
            .collect();
        assert!(
            !with_orders.is_empty(),
            "{snap}: no soft-deleted user has orders"
        );
        let null_country = u
            .rows
            .iter()
            .filter(|r| u.get(r, "country_code").is_empty())
            .count();
        assert_rate("T5", snap, null_country, u.rows.len(), (0.06, 0.10));
        deleted_by_snap.push(
            deleted
                .into_iter()
                .map(str::to_string)
                .collect::<BTreeSet<_>>(),
        );
    }
    assert!(
        deleted_by_snap[1].is_superset(&deleted_by_snap[0])
            && deleted_by_snap[1].len() > deleted_by_snap[0].len(),
        "S2 keeps every S1 soft delete and adds new ones"
    );
}

#[test]
fn t6_multi_currency_is_consistent() {
    let pack = default_pack();
    for snap in SNAPSHOTS {
        let o = table(pack, snap, "orders");
        let it = table(pack, snap, "order_items");
        let pay = table(pack, snap, "payments");
        let prod = table(pack, snap, "products");
        for (name, t) in [
            ("orders", &o),
            ("order_items", &it),
            ("payments", &pay),
            ("products", &prod),
        ] {
            let cur = count_by(t.rows.iter().map(|r| t.get(r, "currency")));
            let keys: Vec<&str> = cur.keys().copied().collect();
            assert_eq!(keys, ["EUR", "GBP", "USD"], "{snap} {name} currencies");
        }
        let mut order_cur = BTreeMap::new();
        let mut order_total = BTreeMap::new();
        for r in &o.rows {
            order_cur.insert(o.get(r, "order_id"), o.get(r, "currency"));
            order_total.insert(o.get(r, "order_id"), cents(o.get(r, "order_total")));
        }
        let mut sums: BTreeMap<&str, i64> = BTreeMap::new();
        for r in &it.rows {
            let id = it.get(r, "order_id");
            assert_eq!(
                order_cur[id],
                it.get(r, "currency"),
                "{snap}: item currency"
            );
            let q: i64 = it.get(r, "quantity").parse().expect("quantity");
            assert!(q >= 1);
            *sums.entry(id).or_default() += q * cents(it.get(r, "unit_price"));
        }
        assert_eq!(
            sums, order_total,
            "{snap}: order_total equals the sum of its items"
        );
        for r in &pay.rows {
            assert_eq!(order_cur[pay.get(r, "order_id")], pay.get(r, "currency"));
        }
    }
}

#[test]
fn t7_event_log_arrives_out_of_order() {
    let pack = default_pack();
    for snap in SNAPSHOTS {
        let l = table(pack, snap, "event_log");
        let mut per_entity: BTreeMap<(&str, &str), Vec<(i64, i64)>> = BTreeMap::new();
        for r in &l.rows {
            per_entity
                .entry((l.get(r, "entity_type"), l.get(r, "entity_id")))
                .or_default()
                .push((
                    l.get(r, "sequence_number").parse().expect("seq"),
                    ts(l.get(r, "recorded_at")),
                ));
        }
        let mut out_of_order = 0;
        for rows in per_entity.values_mut() {
            rows.sort();
            let seqs: Vec<i64> = rows.iter().map(|r| r.0).collect();
            let expected: Vec<i64> = (1..=rows.len() as i64).collect();
            assert_eq!(seqs, expected, "{snap}: sequence numbers gap-free from 1");
            let mut by_arrival: Vec<usize> = (0..rows.len()).collect();
            by_arrival.sort_by_key(|&i| rows[i].1);
            out_of_order += by_arrival
                .iter()
                .enumerate()
                .filter(|(pos, i)| pos != *i)
                .count();
        }
        assert_rate("T7", snap, out_of_order, l.rows.len(), (0.05, 0.10));
    }
}

#[test]
fn t8_orphan_reviews() {
    let pack = default_pack();
    for snap in SNAPSHOTS {
        let rv = table(pack, snap, "reviews");
        let it = table(pack, snap, "order_items");
        let o = table(pack, snap, "orders");
        let orders: BTreeSet<&str> = o.rows.iter().map(|r| o.get(r, "order_id")).collect();
        let lines: BTreeSet<(&str, &str)> = it
            .rows
            .iter()
            .map(|r| (it.get(r, "order_id"), it.get(r, "product_id")))
            .collect();
        let mut missing_order = 0;
        let mut wrong_product = 0;
        let mut unverified = 0;
        for r in &rv.rows {
            let order = rv.get(r, "order_id");
            if order.is_empty() {
                unverified += 1;
            } else if !orders.contains(order) {
                missing_order += 1;
            } else if !lines.contains(&(order, rv.get(r, "product_id"))) {
                wrong_product += 1;
            }
            let rating: i64 = rv.get(r, "rating").parse().expect("rating");
            assert!((1..=5).contains(&rating));
        }
        assert_rate(
            "T8",
            snap,
            missing_order + wrong_product,
            rv.rows.len(),
            (0.01, 0.03),
        );
        assert!(
            missing_order > 0 && wrong_product > 0 && unverified > 0,
            "{snap}: orphan kinds"
        );
    }
}
