//! The batch manifest: which submissions to grade, as TOML or CSV.
//!
//! ```toml
//! exercise = "marketplace-elt"          # default for every entry
//! [[submission]]
//! id = "cand-017"
//! source = "https://git.example.org/cohort/cand-017.git"
//! ref = "main"                           # optional
//! no_exec = true                         # optional override
//! project = "warehouse"                  # optional: the dbt project to grade
//! ```
//!
//! CSV: a header row with `id,source` and optionally `ref`, `exercise`,
//! `no_exec`, `project`.
//! Relative sources are read relative to the manifest's folder.

use std::collections::BTreeSet;
use std::path::Path;

use serde::Deserialize;

#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub id: String,
    pub source: String,
    pub rev: Option<String>,
    pub exercise: String,
    pub no_exec: Option<bool>,
    /// The dbt project to grade, as `assay grade --project` takes it.
    pub project: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("cannot read the manifest {0}: {1}")]
    Read(String, std::io::Error),
    #[error("{0}: {1}")]
    Invalid(String, String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TomlManifest {
    exercise: Option<String>,
    #[serde(default)]
    submission: Vec<RawEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    id: String,
    source: String,
    #[serde(rename = "ref", default)]
    rev: Option<String>,
    #[serde(default)]
    exercise: Option<String>,
    #[serde(default)]
    no_exec: Option<bool>,
    #[serde(default)]
    project: Option<String>,
}

pub fn load(path: &Path, default_exercise: &str) -> Result<Vec<Entry>, ManifestError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ManifestError::Read(shown.clone(), e))?;
    let invalid = |m: String| ManifestError::Invalid(shown.clone(), m);
    let (raw, exercise) = if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
    {
        (parse_csv(&text).map_err(invalid)?, None)
    } else {
        let parsed: TomlManifest = toml::from_str(&text).map_err(|e| invalid(e.to_string()))?;
        (parsed.submission, parsed.exercise)
    };
    let base = path.parent().unwrap_or(Path::new("."));
    let default_exercise = exercise.unwrap_or_else(|| default_exercise.to_string());
    let mut seen = BTreeSet::new();
    let mut entries = Vec::new();
    for (i, r) in raw.into_iter().enumerate() {
        let at = format!("submission {} (`{}`)", i + 1, r.id);
        // An id names the submission's report folder, as `--name` does.
        if crate::outdir::check_name(&r.id).is_err() {
            return Err(invalid(format!(
                "{at}: an id is 1-80 letters, digits, `-`, `_` or `.`, not starting with `.`"
            )));
        }
        if !seen.insert(r.id.clone()) {
            return Err(invalid(format!("{at}: the id appears twice")));
        }
        if r.source.trim().is_empty() {
            return Err(invalid(format!("{at}: no source")));
        }
        let source = if r.source.contains("://") || Path::new(&r.source).is_absolute() {
            r.source
        } else {
            base.join(&r.source).display().to_string()
        };
        entries.push(Entry {
            id: r.id,
            source,
            rev: r.rev.filter(|s| !s.is_empty()),
            exercise: r
                .exercise
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| default_exercise.clone()),
            no_exec: r.no_exec,
            project: r.project.filter(|s| !s.is_empty()),
        });
    }
    if entries.is_empty() {
        return Err(invalid("the manifest lists no submission".into()));
    }
    Ok(entries)
}

fn parse_csv(text: &str) -> Result<Vec<RawEntry>, String> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = reader.headers().map_err(|e| e.to_string())?.clone();
    let col = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
    let (Some(id), Some(source)) = (col("id"), col("source")) else {
        return Err("the CSV header must name at least `id` and `source`".into());
    };
    let (rev, exercise, no_exec, project) =
        (col("ref"), col("exercise"), col("no_exec"), col("project"));
    let mut out = Vec::new();
    for (line, record) in reader.records().enumerate() {
        let record = record.map_err(|e| format!("row {}: {e}", line + 2))?;
        let get = |i: Option<usize>| {
            i.and_then(|i| record.get(i))
                .map(str::to_string)
                .filter(|s| !s.is_empty())
        };
        let no_exec = match get(no_exec).as_deref() {
            None => None,
            Some("true" | "yes" | "1") => Some(true),
            Some("false" | "no" | "0") => Some(false),
            Some(other) => {
                return Err(format!(
                    "row {}: no_exec `{other}` is not true or false",
                    line + 2
                ))
            }
        };
        out.push(RawEntry {
            id: get(Some(id)).unwrap_or_default(),
            source: get(Some(source)).unwrap_or_default(),
            rev: get(rev),
            exercise: get(exercise),
            no_exec,
            project: get(project),
        });
    }
    Ok(out)
}

/// Parses `I/N` (1-based) and keeps the entries of shard I. The split hashes each
/// id, so adding a submission moves no other one to a different shard.
pub fn shard(entries: Vec<Entry>, spec: &str) -> Result<Vec<Entry>, String> {
    let (i, n) = spec
        .split_once('/')
        .ok_or_else(|| format!("--shard takes I/N, not `{spec}`"))?;
    let (i, n): (u64, u64) = (
        i.trim()
            .parse()
            .map_err(|_| format!("bad shard index in `{spec}`"))?,
        n.trim()
            .parse()
            .map_err(|_| format!("bad shard count in `{spec}`"))?,
    );
    if n == 0 || i == 0 || i > n {
        return Err(format!("--shard {spec}: I must lie in 1..=N"));
    }
    Ok(entries
        .into_iter()
        .filter(|e| shard_of(&e.id, n) == i - 1)
        .collect())
}

fn shard_of(id: &str, n: u64) -> u64 {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(id.as_bytes());
    u64::from_be_bytes(digest[..8].try_into().expect("eight bytes")) % n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_toml_and_csv_alike() {
        let dir = tempfile::tempdir().unwrap();
        let toml_path = dir.path().join("m.toml");
        std::fs::write(&toml_path, "[[submission]]\nid = \"a\"\nsource = \"subs/a\"\n[[submission]]\nid = \"b\"\nsource = \"https://h/b.git\"\nref = \"main\"\nproject = \"warehouse\"\n").unwrap();
        let csv_path = dir.path().join("m.csv");
        std::fs::write(
            &csv_path,
            "id,source,ref,project\na,subs/a,,\nb,https://h/b.git,main,warehouse\n",
        )
        .unwrap();
        let a = load(&toml_path, "marketplace-elt").unwrap();
        let b = load(&csv_path, "marketplace-elt").unwrap();
        assert_eq!(a, b);
        assert_eq!(a[0].source, dir.path().join("subs/a").display().to_string());
        assert_eq!(a[1].rev.as_deref(), Some("main"));
        assert_eq!(a[0].project, None);
        assert_eq!(a[1].project.as_deref(), Some("warehouse"));
    }

    #[test]
    fn refuses_unsafe_and_duplicate_ids() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.csv");
        std::fs::write(&p, "id,source\n../x,a\n").unwrap();
        assert!(load(&p, "e").unwrap_err().to_string().contains("id is"));
        std::fs::write(&p, "id,source\nx,a\nx,b\n").unwrap();
        assert!(load(&p, "e").unwrap_err().to_string().contains("twice"));
    }

    #[test]
    fn shards_partition_the_manifest() {
        let entries: Vec<Entry> = (0..50)
            .map(|i| Entry {
                id: format!("c{i}"),
                source: "s".into(),
                rev: None,
                exercise: "e".into(),
                no_exec: None,
                project: None,
            })
            .collect();
        let mut all: Vec<String> = Vec::new();
        for i in 1..=3 {
            let part = shard(entries.clone(), &format!("{i}/3")).unwrap();
            assert!(!part.is_empty());
            all.extend(part.into_iter().map(|e| e.id));
        }
        all.sort();
        let mut want: Vec<String> = entries.iter().map(|e| e.id.clone()).collect();
        want.sort();
        assert_eq!(all, want);
        assert!(shard(entries, "4/3").is_err());
    }
}
