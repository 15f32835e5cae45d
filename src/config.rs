//! The grader's own settings. Every cap and limit has a sane default and can be
//! overridden from a TOML file (`--config`), so a hiring team can tighten or relax
//! them without rebuilding.

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub acquire: AcquireLimits,
    /// Limits of the sandbox that runs the submission's dbt project.
    pub execute: crate::execute::SandboxLimits,
    /// How the runner image is built (mirror, suite, pins, cache folder).
    pub runner: crate::execute::RunnerConfig,
    /// The seeded data the submission runs on.
    pub data: DataConfig,
    /// Where the dbt packages a submission asks for come from, offline.
    pub packages: PackagesConfig,
}

/// The package cache: one folder per package name (`dbt_utils/dbt_project.yml`
/// and the rest of the package), filled by a deployment that has network. The
/// sandbox never runs `dbt deps`; see `execute::workloads::dbt::packages`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PackagesConfig {
    /// Defaults to `dbt-packages` in assay's cache folder, when it exists.
    pub cache_dir: Option<std::path::PathBuf>,
}

/// Which seeded data the execution stage generates (and caches) for a grade.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DataConfig {
    pub seed: u64,
    /// 1 is about 5,000 orders; larger scales are for benchmarks.
    pub scale: u32,
}

impl Default for DataConfig {
    fn default() -> Self {
        DataConfig {
            seed: crate::generate::DEFAULT_SEED,
            scale: 1,
        }
    }
}

/// Caps that bound what a submission can make the grader write or wait for.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AcquireLimits {
    /// Largest single file written out of a submission.
    pub max_file_bytes: u64,
    /// Sum of all files written out of a submission.
    pub max_total_bytes: u64,
    pub max_files: u64,
    /// Deepest path, counted in components.
    pub max_path_depth: usize,
    /// Longest path, in bytes.
    pub max_path_bytes: usize,
    /// Bytes a clone may transfer before it is cut off.
    pub max_transfer_bytes: u64,
    /// Wall-clock limit for a clone or an archive unpack.
    pub timeout_secs: u64,
    /// Commits read for the history facts.
    pub max_commits: usize,
}

impl Default for AcquireLimits {
    fn default() -> Self {
        AcquireLimits {
            max_file_bytes: 8 * 1024 * 1024,
            max_total_bytes: 200 * 1024 * 1024,
            max_files: 20_000,
            max_path_depth: 24,
            max_path_bytes: 1024,
            max_transfer_bytes: 512 * 1024 * 1024,
            timeout_secs: 120,
            max_commits: 1_000,
        }
    }
}

impl AcquireLimits {
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_secs)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
}

impl Config {
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| ConfigError::Invalid {
            path: path.display().to_string(),
            message: e.to_string(),
        })
    }
}
