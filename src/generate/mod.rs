//! Seeded data for an exercise pack: the raw tables of two syncs (S1, S2) with the
//! pack's traps, plus the ground truth of each sync computed from a clean model of
//! the world.
//!
//! Same exercise, seed and scale give byte-identical files: every random draw comes
//! from a ChaCha stream derived from the seed, nothing reads the clock, and every
//! output is ordered explicitly.

mod rates;
mod snapshot;
mod time;
mod truth;
mod world;

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha256};

pub use truth::Truth;

/// The only exercise this generator knows.
pub const EXERCISE: &str = "marketplace-elt";
/// Seed used when the caller gives none.
pub const DEFAULT_SEED: u64 = 20_260_701;
/// Bumped whenever the same seed would produce different data.
pub const GENERATOR_VERSION: &str = "marketplace-elt-gen/2";
/// Largest accepted scale factor (scale 1 ≈ 5,000 orders).
pub const MAX_SCALE: u32 = 1_000;

#[derive(Debug, Clone)]
pub struct GenerateOptions {
    pub exercise: String,
    pub scale: u32,
    pub seed: u64,
    pub out_dir: PathBuf,
}

impl GenerateOptions {
    /// Defaults: the marketplace-elt exercise, scale 1, [`DEFAULT_SEED`].
    pub fn new(out_dir: impl Into<PathBuf>) -> Self {
        GenerateOptions {
            exercise: EXERCISE.to_string(),
            scale: 1,
            seed: DEFAULT_SEED,
            out_dir: out_dir.into(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct GeneratedFile {
    /// Relative to the output directory, `/`-separated.
    pub path: String,
    pub sha256: String,
    pub bytes: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct SnapshotSummary {
    pub name: String,
    pub sync_at: String,
    /// Landed rows per raw table.
    pub rows: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct GenerateSummary {
    pub out_dir: PathBuf,
    pub exercise: String,
    pub seed: u64,
    pub scale: u32,
    pub snapshots: Vec<SnapshotSummary>,
    /// Every file written except manifest.json itself, sorted by path.
    pub files: Vec<GeneratedFile>,
}

#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    #[error("unknown exercise {0:?}: the generator knows only {EXERCISE:?}")]
    UnknownExercise(String),
    #[error("scale must be between 1 and {MAX_SCALE}, got {0}")]
    InvalidScale(u32),
    #[error("cannot write {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot encode CSV: {0}")]
    Csv(#[from] csv::Error),
    #[error("cannot encode JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The generated data broke its own contract (a trap rate outside its SPEC
    /// range, reconciliation without unmatched orders...). A bug, never user error.
    #[error("generated data failed its self-check: {0}")]
    SelfCheck(String),
}

struct Writer<'a> {
    root: &'a Path,
    files: Vec<GeneratedFile>,
}

impl Writer<'_> {
    fn write(&mut self, rel: &str, bytes: &[u8]) -> Result<(), GenerateError> {
        let path = self.root.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|source| GenerateError::Io {
                path: parent.to_path_buf(),
                source,
            })?;
        }
        std::fs::write(&path, bytes).map_err(|source| GenerateError::Io {
            path: path.clone(),
            source,
        })?;
        self.files.push(GeneratedFile {
            path: rel.to_string(),
            sha256: hex::encode(Sha256::digest(bytes)),
            bytes: bytes.len() as u64,
        });
        Ok(())
    }
}

fn csv_writer<W: Write>(w: W) -> csv::Writer<W> {
    csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(w)
}

fn csv_bytes(w: csv::Writer<Vec<u8>>) -> Result<Vec<u8>, GenerateError> {
    w.into_inner()
        .map_err(|e| GenerateError::Csv(csv::Error::from(e.into_error())))
}

/// A file sink that digests what passes through, so large tables stream to disk
/// without being held in memory to be hashed.
struct HashingFile {
    inner: BufWriter<File>,
    hasher: Sha256,
    bytes: u64,
}

impl Write for HashingFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl Writer<'_> {
    fn create(&self, rel: &str) -> Result<HashingFile, GenerateError> {
        let path = self.root.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|source| GenerateError::Io {
                path: parent.to_path_buf(),
                source,
            })?;
        }
        let file = File::create(&path).map_err(|source| GenerateError::Io { path, source })?;
        Ok(HashingFile {
            inner: BufWriter::with_capacity(1 << 16, file),
            hasher: Sha256::new(),
            bytes: 0,
        })
    }

    fn finish(&mut self, rel: &str, w: csv::Writer<HashingFile>) -> Result<(), GenerateError> {
        let mut f = w
            .into_inner()
            .map_err(|e| GenerateError::Csv(csv::Error::from(e.into_error())))?;
        f.inner.flush().map_err(|source| GenerateError::Io {
            path: self.root.join(rel),
            source,
        })?;
        self.files.push(GeneratedFile {
            path: rel.to_string(),
            sha256: hex::encode(f.hasher.finalize()),
            bytes: f.bytes,
        });
        Ok(())
    }
}

/// Generates both snapshots, their truth files, the exchange-rate seed and a
/// manifest under `opts.out_dir`.
pub fn generate(opts: &GenerateOptions) -> Result<GenerateSummary, GenerateError> {
    if opts.exercise != EXERCISE {
        return Err(GenerateError::UnknownExercise(opts.exercise.clone()));
    }
    if opts.scale == 0 || opts.scale > MAX_SCALE {
        return Err(GenerateError::InvalidScale(opts.scale));
    }
    let world = world::build(opts.seed, opts.scale);
    let mut out = Writer {
        root: &opts.out_dir,
        files: Vec::new(),
    };
    let mut snapshots = Vec::new();
    // Digests of the rows each table landed at the previous sync. A digest covers
    // key and content, so finding one means the row is unchanged.
    let mut previous: BTreeMap<&'static str, HashSet<[u8; 16]>> = BTreeMap::new();
    for (name, at) in [("S1", world::sync1()), ("S2", world::sync2())] {
        let mut rows_per_table = BTreeMap::new();
        let mut landed: BTreeMap<&'static str, HashSet<[u8; 16]>> = BTreeMap::new();
        for table in snapshot::tables_at(&world, at) {
            let rel = format!("{name}/{}.csv", table.name);
            let mut w = csv_writer(out.create(&rel)?);
            let mut header: Vec<&str> = table.columns.to_vec();
            header.extend(["_airbyte_raw_id", "_airbyte_extracted_at"]);
            w.write_record(&header)?;
            let before = previous.get(table.name);
            let ids = landed.entry(table.name).or_default();
            let mut count = 0u64;
            for row in table.rows {
                let digest = snapshot::raw_digest(opts.seed, table.name, &row);
                // A row the previous sync landed unchanged keeps that sync's extract time.
                let unchanged = before.is_some_and(|b| b.contains(&digest));
                let extracted = time::fmt_utc(if unchanged { world::sync1() } else { at });
                let raw_id = snapshot::fmt_raw_id(&digest);
                let mut record: Vec<&str> = row
                    .cells
                    .iter()
                    .map(|c| c.as_deref().unwrap_or(""))
                    .collect();
                record.push(&raw_id);
                record.push(&extracted);
                w.write_record(&record)?;
                ids.insert(digest);
                count += 1;
            }
            out.finish(&rel, w)?;
            rows_per_table.insert(table.name.to_string(), count);
        }
        let truth = truth::compute(
            &world,
            at,
            &truth::TruthMeta {
                snapshot: name,
                generator_version: GENERATOR_VERSION,
                seed: opts.seed,
                scale: opts.scale,
            },
        );
        self_check(&truth)?;
        let mut json = serde_json::to_vec_pretty(&truth)?;
        json.push(b'\n');
        out.write(&format!("{name}/truth.json"), &json)?;
        snapshots.push(SnapshotSummary {
            name: name.to_string(),
            sync_at: time::fmt_utc(at),
            rows: rows_per_table,
        });
        previous = landed;
    }

    let mut w = csv_writer(Vec::new());
    w.write_record(["currency", "month", "rate_to_usd"])?;
    for row in rates::exchange_rates_csv_rows() {
        w.write_record(&row)?;
    }
    out.write("exchange_rates.csv", &csv_bytes(w)?)?;

    let mut files = out.files;
    files.sort_by(|a, b| a.path.cmp(&b.path));
    let summary = GenerateSummary {
        out_dir: opts.out_dir.clone(),
        exercise: opts.exercise.clone(),
        seed: opts.seed,
        scale: opts.scale,
        snapshots,
        files,
    };
    let manifest = serde_json::json!({
        "generator_version": GENERATOR_VERSION,
        "exercise": summary.exercise,
        "seed": summary.seed,
        "scale": summary.scale,
        "snapshots": summary.snapshots,
        "files": summary.files,
    });
    let mut json = serde_json::to_vec_pretty(&manifest)?;
    json.push(b'\n');
    let path = opts.out_dir.join("manifest.json");
    std::fs::write(&path, json).map_err(|source| GenerateError::Io { path, source })?;
    Ok(summary)
}

fn self_check(t: &Truth) -> Result<(), GenerateError> {
    let ranges = [
        ("T1", world::T1_RANGE),
        ("T2", world::T2_RANGE),
        ("T4", world::T4_RANGE),
        ("T5", world::T5_RANGE),
        ("T7", world::T7_RANGE),
        ("T8", world::T8_RANGE),
    ];
    for (name, (lo, hi)) in ranges {
        let rate = t.traps.get(name).map_or(-1.0, |x| x.rate);
        if !(lo..=hi).contains(&rate) {
            return Err(GenerateError::SelfCheck(format!(
                "{}: {name} rate {rate} outside [{lo}, {hi}]",
                t.snapshot
            )));
        }
    }
    let checks = [
        (t.reconciliation.matched > 0, "no matched order"),
        (t.reconciliation.unmatched > 0, "no unmatched order"),
        (
            t.payments
                .events_by_type
                .get("refunded")
                .is_some_and(|n| *n > 0),
            "no refund",
        ),
        (
            t.payments
                .events_by_type
                .get("failed")
                .is_some_and(|n| *n > 0),
            "no failed payment",
        ),
        (
            t.traps
                .get("T4")
                .and_then(|x| x.extra.get("deleted_with_orders"))
                .is_some_and(|n| *n > 0),
            "no soft-deleted user with orders",
        ),
        (
            (t.sellers.gmv_usd_total - t.gmv.total_usd).abs() < 0.005,
            "sellers' GMV does not add up to total GMV",
        ),
        (
            t.sellers.with_gmv < t.sellers.count,
            "no seller with zero GMV",
        ),
    ];
    for (ok, what) in checks {
        if !ok {
            return Err(GenerateError::SelfCheck(format!("{}: {what}", t.snapshot)));
        }
    }
    Ok(())
}
