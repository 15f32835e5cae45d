//! Independent reading of generated snapshots: CSV parsing and the SPEC's fixed
//! facts (exchange rates, New York DST, trap ranges), written without using the
//! generator's own code so the tests can catch its mistakes.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use assay::generate::{generate, GenerateOptions};
use chrono::{DateTime, NaiveDate, NaiveDateTime};

pub const S1_SYNC: &str = "2026-07-01T00:00:00Z";
pub const S2_SYNC: &str = "2026-07-08T00:00:00Z";

/// Generates the default-seed, scale-1 pack once per test binary.
pub fn default_pack() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("generate-default-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        generate(&GenerateOptions::new(&dir)).expect("generation succeeds");
        dir
    })
}

pub struct Csv {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Csv {
    pub fn col(&self, name: &str) -> usize {
        self.header
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("column {name} missing"))
    }
    pub fn get<'a>(&self, row: &'a [String], name: &str) -> &'a str {
        &row[self.col(name)]
    }
}

pub fn read_csv(path: &Path) -> Csv {
    let mut r = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_path(path)
        .unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let header = r
        .headers()
        .expect("header")
        .iter()
        .map(str::to_string)
        .collect();
    let rows = r
        .records()
        .map(|rec| rec.expect("record").iter().map(str::to_string).collect())
        .collect();
    Csv { header, rows }
}

pub fn table(pack: &Path, snapshot: &str, name: &str) -> Csv {
    read_csv(&pack.join(snapshot).join(format!("{name}.csv")))
}

pub fn truth(pack: &Path, snapshot: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(pack.join(snapshot).join("truth.json")).expect("truth");
    serde_json::from_str(&text).expect("truth parses")
}

pub fn ts(s: &str) -> i64 {
    DateTime::parse_from_rfc3339(s)
        .unwrap_or_else(|e| panic!("bad timestamptz {s:?}: {e}"))
        .timestamp()
}

pub fn sync(snapshot: &str) -> i64 {
    ts(if snapshot == "S1" { S1_SYNC } else { S2_SYNC })
}

/// Naive New York wall time → UTC seconds, with the 2026 DST rule of the brief.
pub fn new_york_to_utc(local: &str) -> i64 {
    let naive = NaiveDateTime::parse_from_str(local, "%Y-%m-%d %H:%M:%S")
        .unwrap_or_else(|e| panic!("bad naive timestamp {local:?}: {e}"));
    let wall = naive.and_utc().timestamp();
    let dst_start = ts("2026-03-08T07:00:00Z");
    let dst_end = ts("2026-11-01T06:00:00Z");
    let as_edt = wall + 4 * 3600;
    if (dst_start..dst_end).contains(&as_edt) {
        as_edt
    } else {
        wall + 5 * 3600
    }
}

pub fn cents(s: &str) -> i64 {
    let (whole, frac) = s.split_once('.').unwrap_or_else(|| panic!("money {s:?}"));
    assert_eq!(frac.len(), 2, "two decimals in {s:?}");
    let sign = if whole.starts_with('-') { -1 } else { 1 };
    let w: i64 = whole.trim_start_matches('-').parse().expect("whole");
    let f: i64 = frac.parse().expect("frac");
    sign * (w * 100 + f)
}

/// SPEC section 1 exchange rates, keyed by (currency, "YYYY-MM").
pub fn rate(currency: &str, month: &str) -> f64 {
    let months = [
        "2026-01", "2026-02", "2026-03", "2026-04", "2026-05", "2026-06", "2026-07",
    ];
    let eur = [1.08, 1.07, 1.09, 1.10, 1.12, 1.11, 1.13];
    let gbp = [1.27, 1.26, 1.28, 1.29, 1.30, 1.31, 1.30];
    let i = months
        .iter()
        .position(|m| *m == month)
        .unwrap_or_else(|| panic!("no rate for month {month}"));
    match currency {
        "USD" => 1.0,
        "EUR" => eur[i],
        "GBP" => gbp[i],
        other => panic!("unexpected currency {other}"),
    }
}

pub fn month_of(ts_utc: i64) -> String {
    DateTime::from_timestamp(ts_utc, 0)
        .expect("instant")
        .format("%Y-%m")
        .to_string()
}

pub fn date_of(ts_utc: i64) -> NaiveDate {
    DateTime::from_timestamp(ts_utc, 0)
        .expect("instant")
        .date_naive()
}

pub fn count_by<'a>(values: impl Iterator<Item = &'a str>) -> BTreeMap<&'a str, usize> {
    let mut m = BTreeMap::new();
    for v in values {
        *m.entry(v).or_insert(0) += 1;
    }
    m
}

pub fn assert_rate(
    name: &str,
    snapshot: &str,
    affected: usize,
    population: usize,
    range: (f64, f64),
) {
    assert!(population > 0, "{snapshot} {name}: empty population");
    let rate = affected as f64 / population as f64;
    assert!(
        rate >= range.0 && rate <= range.1,
        "{snapshot} {name}: rate {rate:.4} ({affected}/{population}) outside [{}, {}]",
        range.0,
        range.1
    );
}

pub fn money_close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 0.011
}
