//! Determinism, the files written, and what changes between the two syncs.

mod generate_support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use assay::generate::{generate, GenerateError, GenerateOptions, DEFAULT_SEED};
use generate_support::*;

const TABLES: [&str; 9] = [
    "users",
    "categories",
    "products",
    "orders",
    "order_items",
    "payments",
    "reviews",
    "seller_tier_history",
    "event_log",
];

fn all_files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p
                    .strip_prefix(dir)
                    .expect("prefix")
                    .to_string_lossy()
                    .replace('\\', "/");
                out.insert(rel, std::fs::read(&p).expect("file"));
            }
        }
    }
    out
}

#[test]
fn same_seed_same_bytes_other_seed_other_data() {
    let a = tempfile::tempdir().expect("tmp");
    let b = tempfile::tempdir().expect("tmp");
    let c = tempfile::tempdir().expect("tmp");
    generate(&GenerateOptions::new(a.path())).expect("first run");
    generate(&GenerateOptions::new(b.path())).expect("second run");
    let mut other = GenerateOptions::new(c.path());
    other.seed = DEFAULT_SEED + 1;
    generate(&other).expect("other seed");
    let fa = all_files(a.path());
    let fb = all_files(b.path());
    let fc = all_files(c.path());
    assert_eq!(
        fa.len(),
        2 * 10 + 2,
        "9 tables + truth per snapshot, rates, manifest"
    );
    assert_eq!(fa, fb, "same seed and scale give byte-identical files");
    for t in TABLES.iter().filter(|t| **t != "categories") {
        let k = format!("S1/{t}.csv");
        assert_ne!(fa[&k], fc[&k], "{k} differs under another seed");
    }
    assert_eq!(
        fa["exchange_rates.csv"], fc["exchange_rates.csv"],
        "rates are fixed"
    );
    let ta: serde_json::Value = serde_json::from_slice(&fa["S1/truth.json"]).expect("json");
    let tc: serde_json::Value = serde_json::from_slice(&fc["S1/truth.json"]).expect("json");
    assert_ne!(ta["gmv"]["total_usd"], tc["gmv"]["total_usd"]);
    assert_ne!(
        ta["traps"]["T1"]["rate"], tc["traps"]["T1"]["rate"],
        "the seed picks the rate"
    );
}

#[test]
fn other_seeds_meet_the_contract() {
    // generate() refuses to write a pack whose trap rates leave their SPEC ranges
    // or whose reconciliation lacks matched or unmatched orders.
    for seed in [1, 2, 3] {
        let d = tempfile::tempdir().expect("tmp");
        let mut o = GenerateOptions::new(d.path());
        o.seed = seed;
        let summary = generate(&o).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        assert_eq!(summary.snapshots.len(), 2);
    }
}

#[test]
fn manifest_lists_every_file_with_its_digest() {
    use sha2::Digest;
    let pack = default_pack();
    let m: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(pack.join("manifest.json")).expect("manifest"),
    )
    .expect("json");
    assert_eq!(m["seed"], DEFAULT_SEED);
    assert_eq!(m["scale"], 1);
    let files = m["files"].as_array().expect("files");
    let listed: BTreeSet<&str> = files
        .iter()
        .map(|f| f["path"].as_str().expect("path"))
        .collect();
    let on_disk: BTreeSet<String> = all_files(pack)
        .into_keys()
        .filter(|p| p != "manifest.json")
        .collect();
    assert_eq!(
        listed
            .iter()
            .map(|s| s.to_string())
            .collect::<BTreeSet<_>>(),
        on_disk
    );
    for f in files {
        let bytes = std::fs::read(pack.join(f["path"].as_str().expect("path"))).expect("file");
        assert_eq!(
            f["sha256"].as_str(),
            Some(hex::encode(sha2::Sha256::digest(&bytes)).as_str())
        );
    }
}

#[test]
fn rejects_unknown_exercise_and_bad_scale() {
    let d = tempfile::tempdir().expect("tmp");
    let mut o = GenerateOptions::new(d.path());
    o.exercise = "nope".into();
    assert!(matches!(
        generate(&o),
        Err(GenerateError::UnknownExercise(_))
    ));
    let mut o = GenerateOptions::new(d.path());
    o.scale = 0;
    assert!(matches!(generate(&o), Err(GenerateError::InvalidScale(0))));
}

fn pk(table: &str) -> Option<&'static str> {
    match table {
        "users" => Some("user_id"),
        "categories" => Some("category_id"),
        "products" => Some("product_id"),
        "orders" => Some("order_id"),
        "order_items" => Some("order_item_id"),
        "reviews" => Some("review_id"),
        "event_log" => Some("log_id"),
        _ => None,
    }
}

#[test]
fn loader_columns_and_one_row_per_key() {
    let pack = default_pack();
    for snap in ["S1", "S2"] {
        for t in TABLES {
            let csv = table(pack, snap, t);
            let n = csv.header.len();
            assert_eq!(
                &csv.header[n - 2..],
                ["_airbyte_raw_id", "_airbyte_extracted_at"],
                "{t}"
            );
            let raw: BTreeSet<&str> = csv
                .rows
                .iter()
                .map(|r| csv.get(r, "_airbyte_raw_id"))
                .collect();
            assert_eq!(raw.len(), csv.rows.len(), "{snap} {t}: raw ids unique");
            for r in &csv.rows {
                let e = csv.get(r, "_airbyte_extracted_at");
                assert!(
                    e == S1_SYNC || (snap == "S2" && e == S2_SYNC),
                    "{snap} {t}: {e}"
                );
            }
            let key_cols: Vec<usize> = match (pk(t), t) {
                (Some(k), _) => vec![csv.col(k)],
                (None, "seller_tier_history") => vec![csv.col("seller_id"), csv.col("valid_from")],
                _ => continue, // payments keep one row per delivery
            };
            let keys: BTreeSet<Vec<&str>> = csv
                .rows
                .iter()
                .map(|r| key_cols.iter().map(|&c| r[c].as_str()).collect())
                .collect();
            assert_eq!(
                keys.len(),
                csv.rows.len(),
                "{snap} {t}: one row per primary key"
            );
        }
    }
}

#[test]
fn second_sync_carries_a_week_of_changes() {
    let pack = default_pack();
    let key_of = |t: &str| pk(t).unwrap_or("event_id");
    // For every keyed table: unchanged rows keep S1's raw id and extract time,
    // changed or new rows carry the second sync.
    for t in TABLES
        .iter()
        .filter(|t| **t != "payments" && **t != "seller_tier_history")
    {
        let s1 = table(pack, "S1", t);
        let s2 = table(pack, "S2", t);
        let k = s1.col(key_of(t));
        let before: BTreeMap<&str, &Vec<String>> =
            s1.rows.iter().map(|r| (r[k].as_str(), r)).collect();
        let n = s1.header.len() - 2;
        for r in &s2.rows {
            let extracted = s2.get(r, "_airbyte_extracted_at");
            match before.get(r[k].as_str()) {
                Some(old) if old[..n] == r[..n] => {
                    assert_eq!(extracted, S1_SYNC, "{t} {}: unchanged row re-stamped", r[k]);
                    assert_eq!(old[n], r[n], "{t}: unchanged row keeps its raw id");
                }
                _ => assert_eq!(extracted, S2_SYNC, "{t} {}: changed row not stamped", r[k]),
            }
        }
        assert!(s2.rows.len() >= s1.rows.len(), "{t}: nothing disappears");
    }

    let o1 = table(pack, "S1", "orders");
    let o2 = table(pack, "S2", "orders");
    let status1: BTreeMap<&str, &str> = o1
        .rows
        .iter()
        .map(|r| (o1.get(r, "order_id"), o1.get(r, "status")))
        .collect();
    let new_orders = o2
        .rows
        .iter()
        .filter(|r| !status1.contains_key(o2.get(r, "order_id")))
        .count();
    let changed = o2
        .rows
        .iter()
        .filter(|r| {
            status1
                .get(o2.get(r, "order_id"))
                .is_some_and(|s| *s != o2.get(r, "status"))
        })
        .count();
    assert!(
        new_orders > 50 && changed > 50,
        "new orders {new_orders}, status changes {changed}"
    );
    for r in o2
        .rows
        .iter()
        .filter(|r| !status1.contains_key(o2.get(r, "order_id")))
    {
        let c = ts(o2.get(r, "created_at"));
        assert!(c > sync("S1") && c <= sync("S2"));
    }

    let p2 = table(pack, "S2", "products");
    let edits = p2
        .rows
        .iter()
        .filter(|r| {
            let u = ts(p2.get(r, "updated_at"));
            u > sync("S1") && u <= sync("S2") && ts(p2.get(r, "created_at")) <= sync("S1")
        })
        .count();
    assert!(
        edits > 5,
        "product edits with normal timestamps in the week: {edits}"
    );

    // Payments: every S1 delivery is still there; new deliveries include
    // re-deliveries of events first seen before the first sync.
    let p1 = table(pack, "S1", "payments");
    let p2 = table(pack, "S2", "payments");
    let raw2: BTreeSet<&str> = p2
        .rows
        .iter()
        .map(|r| p2.get(r, "_airbyte_raw_id"))
        .collect();
    for r in &p1.rows {
        assert!(
            raw2.contains(p1.get(r, "_airbyte_raw_id")),
            "an S1 payment row vanished"
        );
    }
    let old_events: BTreeSet<&str> = p1.rows.iter().map(|r| p1.get(r, "event_id")).collect();
    let redelivered = p2
        .rows
        .iter()
        .filter(|r| {
            p2.get(r, "_airbyte_extracted_at") == S2_SYNC
                && old_events.contains(p2.get(r, "event_id"))
        })
        .count();
    assert!(redelivered > 0, "old events re-delivered in the week");
    assert!(p2.rows.len() > p1.rows.len());

    // Tier history: a closed S1 row never changes; open rows may close.
    let h1 = table(pack, "S1", "seller_tier_history");
    let h2 = table(pack, "S2", "seller_tier_history");
    assert!(h2.rows.len() > h1.rows.len(), "tier changes in the week");
    let current: BTreeMap<&str, usize> = count_by(
        h2.rows
            .iter()
            .filter(|r| h2.get(r, "valid_to").is_empty())
            .map(|r| h2.get(r, "seller_id")),
    );
    assert!(
        current.values().all(|n| *n == 1),
        "one current tier per seller"
    );
}

#[test]
fn exchange_rates_seed_matches_the_spec() {
    let csv = read_csv(&default_pack().join("exchange_rates.csv"));
    assert_eq!(csv.header, ["currency", "month", "rate_to_usd"]);
    assert_eq!(csv.rows.len(), 21);
    for r in &csv.rows {
        let month = &r[1][..7];
        let v: f64 = r[2].parse().expect("rate");
        assert!((v - rate(&r[0], month)).abs() < 1e-9, "{r:?}");
    }
}
