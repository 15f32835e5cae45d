//! Executing a submission in a locked-down Docker container: a sandbox (engine,
//! image, outputs) and the workloads the exercise pack has it run.
//!
//! The sandbox:
//!
//! - [`image`] builds the runner images without a registry (debootstrap + pip) and
//!   imports them into the local engine.
//! - [`docker`] is the only module that talks to the Docker engine.
//! - [`sandbox`] runs phases (load raw snapshot, dbt commands, check queries) in one
//!   container with every resource limit from [`SandboxLimits`].
//! - [`outputs`] reads what the container produced, as hostile input.
//!
//! What runs in it and what comes of it:
//!
//! - [`workloads`]: what a pack asks for (`workloads.toml`): the dbt phases
//!   ([`workloads::dbt`]), hidden Python tests, a DAG load.
//! - [`stage`]: the execution stage of `assay grade`: runs the pack's workloads
//!   and says whose failure is whose (the submission's or the grader's).
//! - [`facts`]: what the stage learned ([`ExecutionFacts`]); checks read these
//!   and never call Docker.

pub mod docker;
pub mod facts;
pub mod image;
pub mod outputs;
pub mod sandbox;
pub mod stage;
pub mod workloads;

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

pub use facts::{
    DagLoadRun, DataRef, ExecStatus, ExecutionFacts, HiddenMeasurement, ModelState, PhaseFacts,
    PhaseRun, Timings,
};
pub use image::{ensure_runner_image, runner_image_tag, Progress};
pub use outputs::{
    DbtInvocation, Manifest, ManifestNode, NodeStatus, PhaseOutputs, QueryResult, Resources,
    RunResult, RunResults,
};
pub use sandbox::{
    run_project, CheckRound, NodeSummary, PhaseResult, PhaseSpec, PhaseStatus, Planner, ProjectRun,
    RawSnapshot, RunnerFailure, Sandbox, SandboxQuery, UploadSummary,
};

/// Errors of the execution layer. A submission that fails is never an error here:
/// it is a [`PhaseResult`] with a status; errors are for the grader's own machinery.
#[derive(Debug, thiserror::Error)]
pub enum ExecuteError {
    #[error("Docker engine: {0}")]
    Docker(#[from] bollard::errors::Error),
    #[error("I/O on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("building the runner image failed at {step}: {detail}")]
    ImageBuild { step: String, detail: String },
    #[error("host configuration: {0}")]
    HostConfig(String),
    #[error("submission cannot be uploaded: {0}")]
    Upload(String),
    #[error("container output rejected: {0}")]
    HostileOutput(String),
    #[error("the sandbox container is gone ({0}); no further phases can run")]
    SandboxGone(String),
    #[error("{0}")]
    Other(String),
}

impl ExecuteError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ExecuteError::Io {
            path: path.into(),
            source,
        }
    }
}

/// How the runner image is built. Every field has a default; config files may
/// override them.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RunnerConfig {
    /// Image repository name; the tag is a hash of the image's inputs.
    pub image_name: String,
    /// Where debootstrapped root filesystems and downloaded wheels are cached.
    /// Defaults to `$XDG_CACHE_HOME/assay` or `~/.cache/assay`.
    pub cache_dir: Option<PathBuf>,
    /// Debian mirror; read from the host's apt configuration when unset.
    pub debian_mirror: Option<String>,
    /// Debian suite (codename); read from /etc/os-release when unset.
    pub debian_suite: Option<String>,
    /// Python requirement specifiers installed into the image's venv.
    pub python_requirements: Vec<String>,
    /// Command that runs pip on the host to download wheels (respects the host's
    /// pip configuration). The first element is the program.
    pub host_pip: Vec<String>,
    /// Rebuild even if an image with the same tag exists.
    pub force_rebuild: bool,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        RunnerConfig {
            image_name: "assay-runner".to_string(),
            cache_dir: None,
            debian_mirror: None,
            debian_suite: None,
            python_requirements: image::DEFAULT_REQUIREMENTS
                .iter()
                .map(|s| s.to_string())
                .collect(),
            host_pip: vec!["python3".into(), "-m".into(), "pip".into()],
            force_rebuild: false,
        }
    }
}

/// Every resource limit of a sandboxed run. Defaults suit a laptop grading one
/// submission at a time.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct SandboxLimits {
    /// Memory limit in bytes; swap is set equal so the container cannot swap.
    pub memory_bytes: i64,
    /// CPU quota in CPUs (1.5 = one and a half cores).
    pub cpus: f64,
    /// Maximum number of processes and threads; the fork-bomb control.
    pub pids_limit: i64,
    /// Wall-clock limit of one phase (raw load + dbt + queries), in seconds.
    /// Past it the container is killed and removed. The exercise pack may set
    /// a shorter one (`[execution]` in hidden-checks.toml); this is the cap.
    pub phase_timeout_secs: u64,
    /// Deadline for dbt inside a phase; the runner kills dbt and still returns
    /// the artifacts. Defaults to the phase limit minus a quarter (2-120 s).
    pub dbt_timeout_secs: Option<u64>,
    /// Size of the writable /work tmpfs (project, warehouse, artifacts), in bytes.
    pub work_tmpfs_bytes: u64,
    /// Size of the /tmp tmpfs, in bytes.
    pub tmp_tmpfs_bytes: u64,
    /// Open files per process.
    pub nofile: i64,
    /// Largest file a process may write, in bytes.
    pub fsize_bytes: i64,
    /// json-file log cap of the container.
    pub log_max_size: String,
    /// Largest upload (project or phase data), in bytes.
    pub max_upload_bytes: u64,
    /// Largest single uploaded file, in bytes.
    pub max_upload_file_bytes: u64,
    /// Most files in one upload.
    pub max_upload_entries: u64,
    /// Largest output archive read back from a phase, in bytes.
    pub max_output_bytes: u64,
    /// Largest manifest.json accepted, in bytes.
    pub max_manifest_bytes: u64,
    /// Largest run_results.json accepted, in bytes.
    pub max_run_results_bytes: u64,
    /// Bytes of dbt's console log kept per phase.
    pub log_tail_bytes: u64,
    /// Most rows returned per check query.
    pub max_query_rows: u64,
    /// Most rows returned per series check (one row per key: order, seller,
    /// day). Far above any truth's key count at the scales the packs use; a
    /// model that gives more keys fails its check.
    pub max_series_rows: u64,
    /// The container exits by itself after this many seconds, even if the grader
    /// died without cleaning up.
    pub container_lifetime_secs: u64,
}

impl Default for SandboxLimits {
    fn default() -> Self {
        SandboxLimits {
            memory_bytes: 2 << 30,
            cpus: 1.5,
            pids_limit: 256,
            phase_timeout_secs: 15 * 60,
            dbt_timeout_secs: None,
            work_tmpfs_bytes: 1 << 30,
            tmp_tmpfs_bytes: 256 << 20,
            nofile: 4096,
            fsize_bytes: 512 << 20,
            log_max_size: "1m".to_string(),
            max_upload_bytes: 256 << 20,
            max_upload_file_bytes: 64 << 20,
            max_upload_entries: 50_000,
            max_output_bytes: 160 << 20,
            max_manifest_bytes: 96 << 20,
            max_run_results_bytes: 32 << 20,
            log_tail_bytes: 64 << 10,
            max_query_rows: 10_000,
            max_series_rows: 2_000_000,
            container_lifetime_secs: 4 * 3600,
        }
    }
}
