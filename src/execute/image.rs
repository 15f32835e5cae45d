//! Builds the runner images without a container registry.
//!
//! An image is made from a [`Recipe`]: a Debian `minbase` root filesystem from
//! the host's own apt mirror with the recipe's packages, one or more venvs each
//! holding its pinned requirements (wheels fetched by the host's pip, so the
//! host's index and certificates apply), user `runner` (uid 10001), and the
//! recipe's scripts under /opt/assay. The tree is streamed as a tar into the
//! engine's image import. The tag is a hash of every input of the recipe, so
//! an unchanged recipe reuses its image.
//!
//! Recipes: [`Recipe::dbt`] (the grade's runner, `runner/Dockerfile`) and
//! [`Recipe::airflow`] (the DAG loader, `runner/Dockerfile.airflow`); each
//! Dockerfile is kept equivalent to its recipe for hosts that can pull base
//! images.

use super::{docker, ExecuteError, RunnerConfig};
use futures_util::stream;
use sha2::{Digest, Sha256};
use std::borrow::BorrowMut;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::process::Command;

/// The in-container runner, baked into the image as `/opt/assay/assay_runner.py`.
pub const RUNNER_SCRIPT: &str = include_str!("runner/runner.py");
/// The runner's entry point, `/opt/assay/runner.py`: it imports the runner,
/// compiled at build time, so no start of it pays the compilation.
pub const RUNNER_ENTRY: &str = include_str!("runner/entry.py");
/// Dockerfile for hosts that can pull base images; produces an equivalent image.
pub const DOCKERFILE: &str = include_str!("runner/Dockerfile");
/// The grader's dbt profile, at `/opt/assay/profiles/profiles.yml` in the image.
pub const PROFILES_YML: &str = include_str!("runner/profiles.yml");
/// The DAG loader, baked into the airflow image at `/opt/assay/dagbag.py`.
pub const DAGBAG_SCRIPT: &str = include_str!("runner/dagbag.py");
/// The airflow recipe as a Dockerfile, kept in step with [`Recipe::airflow`].
pub const DOCKERFILE_AIRFLOW: &str = include_str!("runner/Dockerfile.airflow");
/// Dockerfile equivalent of [`Recipe::pytest`].
pub const DOCKERFILE_PYTEST: &str = include_str!("runner/Dockerfile.pytest");
/// Where the pytest recipe's venv lives; its interpreter runs runner.py.
pub const PYTEST_VENV: &str = "/opt/pytest";
/// What a candidate's extraction and loading code may import (HTTP, retries,
/// a DuckDB for the packs' warehouse stand-ins) and pytest itself.
pub const PYTEST_REQUIREMENTS: &[&str] = &[
    "pytest~=9.2",
    "requests~=2.32",
    "tenacity~=9.0",
    "duckdb>=1.4,<3",
];

/// dbt-core 1.12 downloads a wheel from the web while installing: stay on 1.11.
/// DuckDB >= 1.4 is needed by the `merge` incremental strategy.
pub const DEFAULT_REQUIREMENTS: &[&str] =
    &["dbt-core~=1.11.0", "dbt-duckdb~=1.11.0", "duckdb>=1.4,<3"];

/// Debian packages added to `minbase`. libfaketime makes "now" inside dbt the
/// phase's sync time (runner.py, `clock_env`).
const DEBIAN_PACKAGES: &[&str] = &["python3", "python3-venv", "libfaketime"];

/// Bump when the build steps below change in a way a recipe's hashed inputs
/// do not show (everything a [`Recipe`] holds is hashed).
const RECIPE_VERSION: &str = "assay-runner-recipe-5";

/// Where the two Airflows live in the airflow image; `dagbag.py` tries them in
/// this order.
pub const AIRFLOW3_VENV: &str = "/opt/airflow3";
pub const AIRFLOW2_VENV: &str = "/opt/airflow2";

/// Airflow 3 (Task SDK, `schedule=`) and Airflow 2 (`schedule_interval=`,
/// `days_ago`, `DummyOperator`, no `airflow.sdk`) each refuse the other's
/// DAG style, so the image holds both and the loader tries both. Measured on
/// this workplace's 2-core machines with the host's PyPI mirror (Python 3.11,
/// Debian bookworm), constraints-free:
///
/// - `apache-airflow~=3.3.0` gave 3.3.2: download ~55 s, install ~39 s, 295 MB venv.
/// - `apache-airflow~=2.11.0` gave 2.11.2: download ~52 s, install ~42 s, 287 MB venv;
///   its `python-nvd3` dependency ships only as an sdist, so the host builds
///   that (pure-Python) wheel first ([`VenvSpec::host_built`]).
/// - A DagBag load of a four-task DAG: 3.3 ~0.1 s after ~3-5 s of `import
///   airflow`; 2.11 ~0.8 s after ~1.3 s. 2.x-style files fail on 3.3
///   (`DAG.__init__() got an unexpected keyword argument 'schedule_interval'`),
///   3.x-style files fail on 2.11 (`No module named 'airflow.sdk'`).
///
/// The exercise's `src/` modules import `snowflake.connector` and
/// `google.cloud.storage` at the top; a DAG importing them must load as it
/// would where the team runs Airflow, so both venvs hold those clients (+14 MB
/// of wheels each). `requests` comes with Airflow. Installed in the image:
/// /opt/airflow3 348 MB, /opt/airflow2 338 MB, image 746 MB; the image build
/// took 275 s with the base and Airflow 3's wheels already cached. A load
/// in the sandbox (tests/dag_load.rs) takes ~7 s: Airflow 3 ~4 s (3.5 s of it
/// `import airflow`), Airflow 2 ~2.3 s.
pub const AIRFLOW3_REQUIREMENTS: &[&str] = &[
    "apache-airflow~=3.3.0",
    "snowflake-connector-python>=3,<6",
    "google-cloud-storage>=2,<4",
];
pub const AIRFLOW2_REQUIREMENTS: &[&str] = &[
    "apache-airflow~=2.11.0",
    "snowflake-connector-python>=3,<6",
    "google-cloud-storage>=2,<4",
];
/// Sdists of Airflow 2's dependency tree that have no wheel on PyPI; built
/// into wheels by the host's pip (`pip wheel --no-deps`) before the download.
const AIRFLOW2_HOST_BUILT: &[&str] = &["python-nvd3==0.16.0"];

pub const RUNNER_UID: u32 = 10001;

const STEP_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// Where build progress goes: tracing always, and to whoever shows the
/// grade's progress (a spinner on a terminal, plain lines in verbose logs).
pub struct Progress<'a> {
    sink: Option<&'a (dyn Fn(&str) + Sync)>,
}

impl<'a> Progress<'a> {
    /// Each step also goes to `sink`.
    pub fn to(sink: &'a (dyn Fn(&str) + Sync)) -> Self {
        Progress { sink: Some(sink) }
    }

    /// Progress through tracing only.
    pub fn quiet() -> Self {
        Progress { sink: None }
    }

    pub fn step(&self, msg: &str) {
        tracing::info!("{msg}");
        if let Some(sink) = self.sink {
            sink(msg);
        }
    }

    fn finish(&self, msg: &str) {
        self.step(msg);
    }
}

/// Mirror and suite the image is bootstrapped from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DebianSource {
    pub mirror: String,
    pub suite: String,
}

/// Reads the mirror and suite from the host's apt configuration: the entry of
/// type `deb` whose suite is the host's codename, from sources.list, *.list and
/// deb822 *.sources files.
pub fn host_debian_source(cfg: &RunnerConfig) -> Result<DebianSource, ExecuteError> {
    let os_release = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
    let codename = cfg
        .debian_suite
        .clone()
        .or_else(|| os_release_value(&os_release, "VERSION_CODENAME"))
        .ok_or_else(|| {
            ExecuteError::HostConfig(
                "no Debian suite: /etc/os-release has no VERSION_CODENAME; set debian_suite".into(),
            )
        })?;
    if let Some(mirror) = &cfg.debian_mirror {
        return Ok(DebianSource {
            mirror: mirror.clone(),
            suite: codename,
        });
    }
    let mut entries = Vec::new();
    let main = Path::new("/etc/apt/sources.list");
    if let Ok(text) = std::fs::read_to_string(main) {
        entries.extend(parse_one_line_sources(&text));
    }
    if let Ok(dir) = std::fs::read_dir("/etc/apt/sources.list.d") {
        let mut paths: Vec<PathBuf> = dir.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for p in paths {
            let Ok(text) = std::fs::read_to_string(&p) else {
                continue;
            };
            match p.extension().and_then(|e| e.to_str()) {
                Some("list") => entries.extend(parse_one_line_sources(&text)),
                Some("sources") => entries.extend(parse_deb822_sources(&text)),
                _ => {}
            }
        }
    }
    pick_source(&entries, &codename).ok_or_else(|| {
        ExecuteError::HostConfig(format!(
            "no `deb` entry for suite {codename} in the host's apt sources; set debian_mirror"
        ))
    })
}

fn os_release_value(text: &str, key: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once('=')?;
        (k.trim() == key)
            .then(|| v.trim().trim_matches('"').to_string())
            .filter(|v| !v.is_empty())
    })
}

/// (uri, suite) pairs of `deb` entries in one-line format.
fn parse_one_line_sources(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        let mut rest = match line.strip_prefix("deb ") {
            Some(r) => r.trim_start(),
            None => continue,
        };
        if rest.starts_with('[') {
            match rest.find(']') {
                Some(end) => rest = rest[end + 1..].trim_start(),
                None => continue,
            }
        }
        let mut fields = rest.split_whitespace();
        if let (Some(uri), Some(suite)) = (fields.next(), fields.next()) {
            out.push((uri.to_string(), suite.to_string()));
        }
    }
    out
}

/// (uri, suite) pairs of deb822 stanzas with `Types:` including `deb`.
fn parse_deb822_sources(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for stanza in text.split("\n\n") {
        let mut types = Vec::new();
        let mut uris = Vec::new();
        let mut suites = Vec::new();
        let mut enabled = true;
        for line in stanza.lines() {
            if line.trim_start().starts_with('#') {
                continue;
            }
            let Some((k, v)) = line.split_once(':') else {
                continue;
            };
            let values = v.split_whitespace().map(str::to_string);
            match k.trim().to_ascii_lowercase().as_str() {
                "types" => types.extend(values),
                "uris" => uris.extend(values),
                "suites" => suites.extend(values),
                "enabled" => enabled = !v.trim().eq_ignore_ascii_case("no"),
                _ => {}
            }
        }
        if !enabled || !types.iter().any(|t| t == "deb") {
            continue;
        }
        for u in &uris {
            for s in &suites {
                out.push((u.clone(), s.clone()));
            }
        }
    }
    out
}

fn pick_source(entries: &[(String, String)], codename: &str) -> Option<DebianSource> {
    entries
        .iter()
        .find(|(uri, suite)| suite == codename && uri.starts_with("http"))
        .map(|(uri, suite)| DebianSource {
            mirror: uri.trim_end_matches('/').to_string(),
            suite: suite.clone(),
        })
}

/// A file baked into an image, readable by everyone, owned by root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BakedFile {
    /// Absolute path inside the image.
    pub path: &'static str,
    pub text: &'static str,
}

/// One virtual environment of a recipe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VenvSpec {
    /// Absolute path inside the image, e.g. `/opt/dbt`.
    pub path: String,
    /// Requirement specifiers installed into it, offline, from the host's wheels.
    pub requirements: Vec<String>,
    /// Requirements whose only distribution is a pure-Python sdist: the host's
    /// pip builds their wheels (`pip wheel --no-deps`) before the download,
    /// which a cross-platform `pip download` cannot do itself.
    pub host_built: Vec<String>,
    /// Python code the venv's interpreter runs after the install: the build
    /// fails here rather than at the first grade.
    pub check: String,
}

/// Everything an image is built from. Every field goes into the tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipe {
    /// `dbt`, `airflow`; names the image repository (see [`Recipe::tag`]).
    pub name: &'static str,
    /// Image repository name.
    pub repository: String,
    /// Added to Debian `minbase` by debootstrap.
    pub debian_packages: Vec<&'static str>,
    pub venvs: Vec<VenvSpec>,
    pub files: Vec<BakedFile>,
    /// The equivalent Dockerfile, hashed so the two are changed together.
    pub dockerfile: &'static str,
    /// `ENV` settings of the image (`KEY=value`).
    pub env: Vec<String>,
    /// The image's default command: its idle PID 1.
    pub cmd: Vec<&'static str>,
}

/// The runner as every recipe that runs it bakes it: the entry script and
/// the module it imports (compiled at build time).
fn runner_files() -> [BakedFile; 2] {
    [
        BakedFile {
            path: "/opt/assay/runner.py",
            text: RUNNER_ENTRY,
        },
        BakedFile {
            path: "/opt/assay/assay_runner.py",
            text: RUNNER_SCRIPT,
        },
    ]
}

impl Recipe {
    /// The grade's runner: dbt-core and dbt-duckdb in /opt/dbt, runner.py and
    /// the grader's profile. `cfg.python_requirements` may override the pins.
    pub fn dbt(cfg: &RunnerConfig) -> Recipe {
        Recipe {
            name: "dbt",
            repository: cfg.image_name.clone(),
            debian_packages: DEBIAN_PACKAGES.to_vec(),
            venvs: vec![VenvSpec {
                path: "/opt/dbt".into(),
                requirements: cfg.python_requirements.clone(),
                host_built: Vec::new(),
                check: "import dbt.version, dbt.adapters.duckdb, duckdb".into(),
            }],
            files: [
                runner_files().as_slice(),
                &[BakedFile {
                    path: "/opt/assay/profiles/profiles.yml",
                    text: PROFILES_YML,
                }],
            ]
            .concat(),
            dockerfile: DOCKERFILE,
            env: vec![
                "PATH=/opt/dbt/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
                    .into(),
                "LANG=C.UTF-8".into(),
                "DBT_SEND_ANONYMOUS_USAGE_STATS=false".into(),
            ],
            cmd: vec![
                "/opt/dbt/bin/python",
                "/opt/assay/runner.py",
                "idle",
                "86400",
            ],
        }
    }

    /// A pack's hidden Python tests: pytest, requests, tenacity and DuckDB in
    /// /opt/pytest, and runner.py (its `tests` command).
    pub fn pytest(cfg: &RunnerConfig) -> Recipe {
        Recipe {
            name: "pytest",
            repository: format!("{}-pytest", cfg.image_name),
            // The dbt recipe's packages: the recipes share one base in the cache.
            debian_packages: DEBIAN_PACKAGES.to_vec(),
            venvs: vec![VenvSpec {
                path: PYTEST_VENV.into(),
                requirements: PYTEST_REQUIREMENTS.iter().map(|s| s.to_string()).collect(),
                host_built: Vec::new(),
                check: "import pytest, requests, tenacity, duckdb".into(),
            }],
            files: runner_files().to_vec(),
            dockerfile: DOCKERFILE_PYTEST,
            env: vec![
                "PATH=/opt/pytest/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
                    .into(),
                "LANG=C.UTF-8".into(),
            ],
            cmd: vec![
                "/opt/pytest/bin/python",
                "/opt/assay/runner.py",
                "idle",
                "86400",
            ],
        }
    }

    /// The DAG loader: Airflow 3.3 in /opt/airflow3 and Airflow 2.11 in
    /// /opt/airflow2 (see [`AIRFLOW3_REQUIREMENTS`] for why both), and
    /// dagbag.py. Its PID 1 is the system Python, which needs neither.
    pub fn airflow(cfg: &RunnerConfig) -> Recipe {
        let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let check =
            "import airflow, snowflake.connector, google.cloud.storage, requests".to_string();
        Recipe {
            name: "airflow",
            repository: format!("{}-airflow", cfg.image_name),
            // The dbt recipe's packages (libfaketime is 100 KB): the two
            // recipes then share one debootstrapped base in the cache.
            debian_packages: DEBIAN_PACKAGES.to_vec(),
            venvs: vec![
                VenvSpec {
                    path: AIRFLOW3_VENV.into(),
                    requirements: strings(AIRFLOW3_REQUIREMENTS),
                    host_built: Vec::new(),
                    check: check.clone(),
                },
                VenvSpec {
                    path: AIRFLOW2_VENV.into(),
                    requirements: strings(AIRFLOW2_REQUIREMENTS),
                    host_built: strings(AIRFLOW2_HOST_BUILT),
                    check,
                },
            ],
            files: vec![BakedFile {
                path: "/opt/assay/dagbag.py",
                text: DAGBAG_SCRIPT,
            }],
            dockerfile: DOCKERFILE_AIRFLOW,
            env: vec![
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
                "LANG=C.UTF-8".into(),
                "AIRFLOW__CORE__LOAD_EXAMPLES=False".into(),
            ],
            cmd: vec!["/usr/bin/python3", "/opt/assay/dagbag.py", "idle", "86400"],
        }
    }

    /// `<repository>:<16 hex digits>`, the hash of every input: the build
    /// steps' version, the Debian suite, packages, venvs, baked files,
    /// Dockerfile, environment and command.
    pub fn tag(&self, suite: &str) -> String {
        let mut h = Sha256::new();
        let mut part = |kind: u8, text: &str| {
            h.update([kind]);
            h.update((text.len() as u64).to_le_bytes());
            h.update(text.as_bytes());
        };
        part(0, RECIPE_VERSION);
        part(1, self.name);
        part(2, suite);
        for p in &self.debian_packages {
            part(3, p);
        }
        for v in &self.venvs {
            part(4, &v.path);
            for r in &v.requirements {
                part(5, r);
            }
            for r in &v.host_built {
                part(6, r);
            }
            part(7, &v.check);
        }
        for f in &self.files {
            part(8, f.path);
            part(9, f.text);
        }
        part(10, self.dockerfile);
        for e in &self.env {
            part(11, e);
        }
        for c in &self.cmd {
            part(12, c);
        }
        format!("{}:{}", self.repository, &hex::encode(h.finalize())[..16])
    }

    /// Docker-style settings applied at import: what the Dockerfile says.
    fn changes(&self) -> Vec<String> {
        let mut out: Vec<String> = self.env.iter().map(|e| format!("ENV {e}")).collect();
        out.push(format!("USER {RUNNER_UID}"));
        out.push("WORKDIR /work".into());
        // serde_json quotes each element as a JSON string, as CMD's exec form wants.
        out.push(format!(
            "CMD {}",
            serde_json::to_string(&self.cmd).unwrap_or_default()
        ));
        out
    }
}

/// Tag of the dbt runner image the current recipe produces; see [`Recipe::tag`].
pub fn runner_image_tag(cfg: &RunnerConfig, suite: &str) -> String {
    Recipe::dbt(cfg).tag(suite)
}

/// Folder of assay's caches: `RunnerConfig.cache_dir`, `$XDG_CACHE_HOME/assay` or
/// `~/.cache/assay`.
pub fn cache_root(cfg: &RunnerConfig) -> Result<PathBuf, ExecuteError> {
    if let Some(dir) = &cfg.cache_dir {
        return Ok(dir.clone());
    }
    if let Some(x) = std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(x).join("assay"));
    }
    let home = std::env::var_os("HOME")
        .ok_or_else(|| ExecuteError::HostConfig("neither XDG_CACHE_HOME nor HOME is set".into()))?;
    Ok(PathBuf::from(home).join(".cache").join("assay"))
}

/// An exclusive lock on the cache folder's `build.lock`, held until dropped (the
/// operating system releases it if the grader dies).
async fn lock_builds(cache: &Path, progress: &Progress<'_>) -> Result<std::fs::File, ExecuteError> {
    let path = cache.join("build.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| ExecuteError::io(&path, e))?;
    match file.try_lock() {
        Ok(()) => return Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => {}
        Err(std::fs::TryLockError::Error(e)) => return Err(ExecuteError::io(&path, e)),
    }
    progress.step("waiting for another grader building the runner image…");
    tokio::task::spawn_blocking(move || file.lock().map(|()| file))
        .await
        .map_err(|e| ExecuteError::io(&path, std::io::Error::other(e)))?
        .map_err(|e| ExecuteError::io(&path, e))
}

/// Makes sure the dbt runner image exists in the local engine and returns its
/// tag, building it when missing (or when `force_rebuild`).
pub async fn ensure_runner_image(
    cfg: &RunnerConfig,
    progress: &Progress<'_>,
) -> Result<String, ExecuteError> {
    ensure_image(cfg, &Recipe::dbt(cfg), progress).await
}

/// Makes sure the airflow image ([`Recipe::airflow`]) exists and returns its tag.
pub async fn ensure_airflow_image(
    cfg: &RunnerConfig,
    progress: &Progress<'_>,
) -> Result<String, ExecuteError> {
    ensure_image(cfg, &Recipe::airflow(cfg), progress).await
}

/// Makes sure the pytest runner image exists; see [`Recipe::pytest`].
pub async fn ensure_pytest_image(
    cfg: &RunnerConfig,
    progress: &Progress<'_>,
) -> Result<String, ExecuteError> {
    ensure_image(cfg, &Recipe::pytest(cfg), progress).await
}

/// Makes sure the image of `recipe` exists in the local engine and returns its
/// tag, building it when missing (or when `cfg.force_rebuild`). Mirror, suite,
/// cache folder and host pip come from `cfg`.
pub async fn ensure_image(
    cfg: &RunnerConfig,
    recipe: &Recipe,
    progress: &Progress<'_>,
) -> Result<String, ExecuteError> {
    let what = match recipe.name {
        "dbt" => "runner image".to_string(),
        other => format!("{other} runner image"),
    };
    let source = host_debian_source(cfg)?;
    let tag = recipe.tag(&source.suite);
    let docker = docker::connect().await?;
    if !cfg.force_rebuild && docker::image_exists(&docker, &tag).await? {
        progress.finish(&format!("{what} {tag} present"));
        return Ok(tag);
    }
    let cache = cache_root(cfg)?.join("runner");
    std::fs::create_dir_all(&cache).map_err(|e| ExecuteError::io(&cache, e))?;
    // Graders started together (a batch, parallel CI jobs, the test suite)
    // share the cached root filesystem and wheels: one builds, the others wait
    // and then find the image. One lock for every recipe: they share the base.
    let _build_lock = lock_builds(&cache, progress).await?;
    if !cfg.force_rebuild && docker::image_exists(&docker, &tag).await? {
        progress.finish(&format!("{what} {tag} built by another grader"));
        return Ok(tag);
    }
    let work = tempfile::Builder::new()
        .prefix("build-")
        .tempdir_in(&cache)
        .map_err(|e| ExecuteError::io(&cache, e))?;
    let rootfs = work.path().join("rootfs");

    let base = ensure_base_rootfs(&cache, &source, &recipe.debian_packages, progress).await?;
    progress.step(&format!("building {what}: copying base filesystem…"));
    run_step(
        "copy base",
        Command::new("cp").arg("-a").arg(&base).arg(&rootfs),
    )
    .await?;

    let py = probe_python(&rootfs).await?;
    for venv in &recipe.venvs {
        let wheels = ensure_wheels(cfg, venv, &cache, &py, progress).await?;
        progress.step(&format!("building {what}: installing {}…", venv.path));
        install_venv(&rootfs, venv, &wheels).await?;
    }

    progress.step(&format!("building {what}: adding user and scripts…"));
    let uid = RUNNER_UID.to_string();
    run_step(
        "add user",
        chroot(
            &rootfs,
            &[
                "/usr/sbin/useradd",
                "-u",
                &uid,
                "-U",
                "-M",
                "-d",
                "/home/runner",
                "-s",
                "/usr/sbin/nologin",
                "runner",
            ],
        ),
    )
    .await?;
    for dir in ["work", "home/runner", "opt/assay"] {
        let p = rootfs.join(dir);
        std::fs::create_dir_all(&p).map_err(|e| ExecuteError::io(&p, e))?;
    }
    // Owned by the runner so the image also works without the sandbox's tmpfs
    // mounts (which carry uid/gid options of their own).
    for dir in ["work", "home/runner"] {
        let p = rootfs.join(dir);
        std::os::unix::fs::chown(&p, Some(RUNNER_UID), Some(RUNNER_UID))
            .map_err(|e| ExecuteError::io(&p, e))?;
    }
    for file in &recipe.files {
        let p = rootfs.join(file.path.trim_start_matches('/'));
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).map_err(|e| ExecuteError::io(parent, e))?;
        }
        std::fs::write(&p, file.text).map_err(|e| ExecuteError::io(&p, e))?;
    }
    // Modules the baked scripts import are compiled now: otherwise every
    // start in the sandbox would compile them again (the sandbox cannot
    // write the cache, and should not).
    run_step(
        "compile the baked scripts",
        chroot(
            &rootfs,
            &["/usr/bin/python3", "-m", "compileall", "-q", "/opt/assay"],
        ),
    )
    .await?;
    slim(&rootfs)?;

    progress.step(&format!("building {what}: importing…"));
    let (repo, tag_part) = tag.split_once(':').unwrap_or((&tag, "latest"));
    import_tree(&docker, &rootfs, repo, tag_part, recipe.changes()).await?;
    drop(work);
    progress.finish(&format!("{what} {tag} built"));
    Ok(tag)
}

/// Creates one venv inside the tree and installs its requirements offline from
/// the host's wheels, then proves it with the venv's check.
async fn install_venv(rootfs: &Path, venv: &VenvSpec, wheels: &Path) -> Result<(), ExecuteError> {
    let wheel_dir = rootfs.join("tmp/wheels");
    if wheel_dir.exists() {
        remove_dir(&wheel_dir)?;
    }
    run_step(
        "copy wheels",
        Command::new("cp").arg("-a").arg(wheels).arg(&wheel_dir),
    )
    .await?;
    run_step(
        "create venv",
        chroot(rootfs, &["/usr/bin/python3", "-m", "venv", &venv.path]),
    )
    .await?;
    let pip_path = format!("{}/bin/pip", venv.path);
    let mut pip: Vec<&str> = vec![
        &pip_path,
        "install",
        "--no-index",
        "--no-cache-dir",
        "--find-links",
        "/tmp/wheels",
    ];
    pip.extend(venv.requirements.iter().map(String::as_str));
    run_step(&format!("install {}", venv.path), chroot(rootfs, &pip)).await?;
    remove_dir(&wheel_dir)?;
    let python = format!("{}/bin/python", venv.path);
    run_step(
        &format!("check {}", venv.path),
        chroot(rootfs, &[&python, "-c", &venv.check]),
    )
    .await
}

async fn import_tree(
    docker: &bollard::Docker,
    rootfs: &Path,
    repo: &str,
    tag: &str,
    changes: Vec<String>,
) -> Result<(), ExecuteError> {
    // GNU tar keeps hard links, ownership and modes exactly as debootstrap made them.
    let mut child = Command::new("tar")
        .arg("-C")
        .arg(rootfs)
        .args([
            "--numeric-owner",
            "--exclude=./dev/*",
            "--exclude=./proc/*",
            "--exclude=./sys/*",
            "-cf",
            "-",
            ".",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| ExecuteError::io("tar", e))?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| ExecuteError::Other("tar has no stdout".into()))?;
    let body = stream::unfold(stdout, |mut out| async move {
        let mut buf = vec![0u8; 1 << 20];
        match out.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(bytes::Bytes::from(buf)), out))
            }
            Err(e) => Some((Err(e), out)),
        }
    });
    docker::import_rootfs(docker, repo, tag, changes, body).await?;
    let status = child.wait().await.map_err(|e| ExecuteError::io("tar", e))?;
    if !status.success() {
        return Err(ExecuteError::ImageBuild {
            step: "import".into(),
            detail: format!("tar exited with {status}"),
        });
    }
    Ok(())
}

/// A debootstrapped base tree per (mirror, suite, packages), built once and
/// copied for each image build.
async fn ensure_base_rootfs(
    cache: &Path,
    source: &DebianSource,
    packages: &[&str],
    progress: &Progress<'_>,
) -> Result<PathBuf, ExecuteError> {
    let mut h = Sha256::new();
    h.update(source.mirror.as_bytes());
    h.update([0]);
    h.update(source.suite.as_bytes());
    for p in packages {
        h.update([0]);
        h.update(p.as_bytes());
    }
    let key = &hex::encode(h.finalize())[..16];
    let base = cache.join(format!("base-{}-{key}", source.suite));
    if base.join("usr/bin/python3").exists() {
        return Ok(base);
    }
    ensure_debootstrap(progress).await?;
    progress.step(&format!(
        "building runner images' base: debootstrap {} from {}…",
        source.suite, source.mirror
    ));
    let partial = cache.join(format!("base-{}-{key}.partial", source.suite));
    if partial.exists() {
        remove_dir(&partial)?;
    }
    let include = format!("--include={}", packages.join(","));
    run_step(
        "debootstrap",
        Command::new("debootstrap")
            .arg("--variant=minbase")
            .arg(&include)
            .arg(&source.suite)
            .arg(&partial)
            .arg(&source.mirror),
    )
    .await?;
    std::fs::rename(&partial, &base).map_err(|e| ExecuteError::io(&base, e))?;
    Ok(base)
}

async fn ensure_debootstrap(progress: &Progress<'_>) -> Result<(), ExecuteError> {
    let found = Command::new("debootstrap")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .map(|s| s.success())
        .unwrap_or(false);
    if found {
        return Ok(());
    }
    progress.step("building runner image: installing debootstrap…");
    run_step(
        "install debootstrap",
        Command::new("apt-get")
            .args(["install", "-y", "--no-install-recommends", "debootstrap"])
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
    .await
}

/// Python version, libc and machine of the image's interpreter: the host's pip
/// downloads wheels for exactly these.
#[derive(Debug, Clone)]
struct ImagePython {
    major: u32,
    minor: u32,
    glibc_minor: u32,
    machine: String,
}

async fn probe_python(rootfs: &Path) -> Result<ImagePython, ExecuteError> {
    let out = run_step_output(
        "probe python",
        chroot(
            rootfs,
            &[
                "/usr/bin/python3",
                "-c",
                "import sys, platform; print(sys.version_info[0], sys.version_info[1], \
                 platform.libc_ver()[1], platform.machine())",
            ],
        ),
    )
    .await?;
    let fields: Vec<&str> = out.split_whitespace().collect();
    let bad = || ExecuteError::ImageBuild {
        step: "probe python".into(),
        detail: format!("unexpected answer {out:?}"),
    };
    if fields.len() != 4 {
        return Err(bad());
    }
    let glibc_minor = fields[2]
        .split('.')
        .nth(1)
        .and_then(|m| m.parse().ok())
        .ok_or_else(bad)?;
    Ok(ImagePython {
        major: fields[0].parse().map_err(|_| bad())?,
        minor: fields[1].parse().map_err(|_| bad())?,
        glibc_minor,
        machine: fields[3].to_string(),
    })
}

/// Wheels of one venv for the image's Python, downloaded by the host's pip (so
/// its index, proxy and certificate settings apply) and cached per requirement
/// set.
async fn ensure_wheels(
    cfg: &RunnerConfig,
    venv: &VenvSpec,
    cache: &Path,
    py: &ImagePython,
    progress: &Progress<'_>,
) -> Result<PathBuf, ExecuteError> {
    let mut h = Sha256::new();
    for r in &venv.requirements {
        h.update(r.as_bytes());
        h.update([0]);
    }
    // Only when present, so a venv without them keeps its cache key.
    for r in &venv.host_built {
        h.update(r.as_bytes());
        h.update([3]);
    }
    h.update(
        format!(
            "{}.{}-{}-{}",
            py.major, py.minor, py.glibc_minor, py.machine
        )
        .as_bytes(),
    );
    let key = &hex::encode(h.finalize())[..16];
    let dir = cache.join(format!("wheels-{key}"));
    if dir.join(".complete").exists() {
        return Ok(dir);
    }
    progress.step(&format!("downloading wheels for {}…", venv.path));
    if dir.exists() {
        remove_dir(&dir)?;
    }
    let (program, base_args) = cfg
        .host_pip
        .split_first()
        .ok_or_else(|| ExecuteError::HostConfig("host_pip is empty".into()))?;
    if !venv.host_built.is_empty() {
        // Pure-Python sdists: the wheel the host builds is `py3-none-any`,
        // whatever the host's own Python; the download below finds it here.
        let mut build = Command::new(program);
        build
            .args(base_args)
            .args(["wheel", "--quiet", "--no-deps", "--wheel-dir"])
            .arg(&dir)
            .args(&venv.host_built);
        run_step("build sdists on the host", &mut build).await?;
    }
    let pyver = format!("{}.{}", py.major, py.minor);
    let abi = format!("cp{}{}", py.major, py.minor);
    let mut cmd = Command::new(program);
    cmd.args(base_args)
        .args(["download", "--quiet", "--only-binary=:all:", "--dest"])
        .arg(&dir)
        .args([
            "--python-version",
            &pyver,
            "--implementation",
            "cp",
            "--abi",
            &abi,
            "--abi",
            "abi3",
            "--abi",
            "none",
        ]);
    // pip does not widen a manylinux tag to older glibc versions by itself.
    for minor in (5..=py.glibc_minor).rev() {
        cmd.args(["--platform", &format!("manylinux_2_{minor}_{}", py.machine)]);
    }
    cmd.args([
        "--platform",
        &format!("manylinux2014_{}", py.machine),
        "--platform",
        &format!("linux_{}", py.machine),
        "--platform",
        "any",
    ]);
    if !venv.host_built.is_empty() {
        cmd.arg("--find-links").arg(&dir);
    }
    cmd.args(&venv.requirements);
    run_step("download wheels", &mut cmd).await?;
    let done = dir.join(".complete");
    std::fs::write(&done, b"").map_err(|e| ExecuteError::io(&done, e))?;
    Ok(dir)
}

fn chroot(rootfs: &Path, argv: &[&str]) -> Command {
    let mut cmd = Command::new("chroot");
    cmd.arg(rootfs)
        .args(argv)
        .env_clear()
        .env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        )
        .env("HOME", "/root")
        .env("LANG", "C.UTF-8")
        .env("PIP_DISABLE_PIP_VERSION_CHECK", "1");
    cmd
}

fn remove_dir(p: &Path) -> Result<(), ExecuteError> {
    std::fs::remove_dir_all(p).map_err(|e| ExecuteError::io(p, e))
}

/// Drops what a headless runner never reads.
fn slim(rootfs: &Path) -> Result<(), ExecuteError> {
    for dir in [
        "usr/share/doc",
        "usr/share/man",
        "usr/share/info",
        "usr/share/locale",
        "var/cache/apt",
        "var/lib/apt/lists",
        "var/cache/debconf",
    ] {
        let p = rootfs.join(dir);
        if p.exists() {
            remove_dir(&p)?;
            std::fs::create_dir_all(&p).map_err(|e| ExecuteError::io(&p, e))?;
        }
    }
    Ok(())
}

async fn run_step(step: &str, cmd: impl BorrowMut<Command>) -> Result<(), ExecuteError> {
    run_step_output(step, cmd).await.map(|_| ())
}

async fn run_step_output(
    step: &str,
    mut cmd: impl BorrowMut<Command>,
) -> Result<String, ExecuteError> {
    let cmd = cmd.borrow_mut();
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let child = cmd.spawn().map_err(|e| ExecuteError::ImageBuild {
        step: step.into(),
        detail: format!("cannot start: {e}"),
    })?;
    let out = match tokio::time::timeout(STEP_TIMEOUT, child.wait_with_output()).await {
        Ok(Ok(out)) => out,
        Ok(Err(e)) => {
            return Err(ExecuteError::ImageBuild {
                step: step.into(),
                detail: e.to_string(),
            })
        }
        Err(_) => {
            return Err(ExecuteError::ImageBuild {
                step: step.into(),
                detail: format!("no result after {} s", STEP_TIMEOUT.as_secs()),
            })
        }
    };
    if !out.status.success() {
        let mut text = String::from_utf8_lossy(&out.stderr).into_owned();
        text.push_str(&String::from_utf8_lossy(&out.stdout));
        let tail: String = text
            .chars()
            .rev()
            .take(2000)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        return Err(ExecuteError::ImageBuild {
            step: step.into(),
            detail: format!("{}: {tail}", out.status),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_second_build_waits_for_the_first_to_release_the_cache() {
        let cache = tempfile::tempdir().unwrap();
        let first = lock_builds(cache.path(), &Progress::quiet()).await.unwrap();
        let path = cache.path().to_path_buf();
        let second = tokio::spawn(async move {
            let lock = lock_builds(&path, &Progress::quiet()).await.unwrap();
            drop(lock);
            std::time::Instant::now()
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!second.is_finished(), "the second build did not wait");
        let released = std::time::Instant::now();
        drop(first);
        let acquired = second.await.unwrap();
        assert!(acquired >= released);
    }

    #[test]
    fn deb822_entry_for_the_codename_is_picked() {
        let text = "Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\nComponents: main\n\nTypes: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\nComponents: main\n";
        let entries = parse_deb822_sources(text);
        assert_eq!(entries.len(), 3);
        let src = pick_source(&entries, "bookworm").unwrap();
        assert_eq!(src.mirror, "http://mirror.example/debian");
        assert_eq!(src.suite, "bookworm");
    }

    #[test]
    fn one_line_entries_skip_options_comments_and_deb_src() {
        let text = "# deb http://old.example/debian bookworm main\ndeb-src http://src.example/debian bookworm main\ndeb [arch=amd64 signed-by=/k.gpg] http://m.example/debian/ trixie main\n";
        let entries = parse_one_line_sources(text);
        assert_eq!(
            entries,
            vec![("http://m.example/debian/".to_string(), "trixie".to_string())]
        );
        assert_eq!(
            pick_source(&entries, "trixie").unwrap().mirror,
            "http://m.example/debian"
        );
        assert!(pick_source(&entries, "bookworm").is_none());
    }

    #[test]
    fn disabled_deb822_stanza_is_ignored() {
        let text = "Types: deb\nURIs: http://a.example/debian\nSuites: bookworm\nEnabled: no\n";
        assert!(parse_deb822_sources(text).is_empty());
    }

    #[test]
    fn the_dbt_recipe_is_the_runner_it_always_was() {
        let r = Recipe::dbt(&RunnerConfig::default());
        assert_eq!(
            r.debian_packages,
            vec!["python3", "python3-venv", "libfaketime"]
        );
        assert_eq!(r.venvs.len(), 1);
        assert_eq!(r.venvs[0].path, "/opt/dbt");
        assert_eq!(r.venvs[0].requirements, DEFAULT_REQUIREMENTS.to_vec());
        let paths: Vec<&str> = r.files.iter().map(|f| f.path).collect();
        assert_eq!(
            paths,
            vec![
                "/opt/assay/runner.py",
                "/opt/assay/assay_runner.py",
                "/opt/assay/profiles/profiles.yml"
            ]
        );
        assert_eq!(
            r.changes(),
            vec![
                "ENV PATH=/opt/dbt/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "ENV LANG=C.UTF-8",
                "ENV DBT_SEND_ANONYMOUS_USAGE_STATS=false",
                "USER 10001",
                "WORKDIR /work",
                r#"CMD ["/opt/dbt/bin/python","/opt/assay/runner.py","idle","86400"]"#,
            ]
        );
        assert_eq!(
            runner_image_tag(&RunnerConfig::default(), "bookworm"),
            r.tag("bookworm")
        );
    }

    #[test]
    fn the_airflow_recipe_has_its_own_repository_and_both_airflows() {
        let cfg = RunnerConfig::default();
        let r = Recipe::airflow(&cfg);
        let tag = r.tag("bookworm");
        assert!(tag.starts_with("assay-runner-airflow:"), "{tag}");
        assert_ne!(tag, Recipe::dbt(&cfg).tag("bookworm"));
        let venvs: Vec<&str> = r.venvs.iter().map(|v| v.path.as_str()).collect();
        assert_eq!(venvs, vec![AIRFLOW3_VENV, AIRFLOW2_VENV]);
        // Same packages: the two recipes share one debootstrapped base.
        assert_eq!(r.debian_packages, Recipe::dbt(&cfg).debian_packages);
        // The Dockerfile beside it pins the same Airflows.
        for pin in AIRFLOW3_REQUIREMENTS.iter().chain(AIRFLOW2_REQUIREMENTS) {
            assert!(
                DOCKERFILE_AIRFLOW.contains(pin),
                "{pin} not in Dockerfile.airflow"
            );
        }
    }

    #[test]
    fn every_recipe_input_moves_the_tag() {
        let base = Recipe::airflow(&RunnerConfig::default());
        let mut files = base.clone();
        files.files[0].text = "changed";
        let mut venv = base.clone();
        venv.venvs[1].host_built.clear();
        let mut cmd = base.clone();
        cmd.cmd[3] = "1";
        for other in [files, venv, cmd] {
            assert_ne!(base.tag("bookworm"), other.tag("bookworm"));
        }
        assert_ne!(base.tag("bookworm"), base.tag("trixie"));
    }

    #[test]
    fn tag_changes_with_requirements() {
        let a = RunnerConfig::default();
        let mut b = RunnerConfig::default();
        b.python_requirements.push("extra==1".into());
        assert_ne!(
            runner_image_tag(&a, "bookworm"),
            runner_image_tag(&b, "bookworm")
        );
        assert!(runner_image_tag(&a, "bookworm").starts_with("assay-runner:"));
    }
}
