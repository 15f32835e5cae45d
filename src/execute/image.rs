//! Builds the runner image without a container registry.
//!
//! Recipe (kept equivalent to `runner/Dockerfile`): a Debian `minbase` root
//! filesystem from the host's own apt mirror, Python 3 with a venv at /opt/dbt
//! holding the pinned dbt packages (wheels fetched by the host's pip, so the
//! host's index and certificates apply), user `runner` (uid 10001), and
//! assay's runner script at /opt/assay/runner.py. The tree is streamed as a tar
//! into the engine's image import. The tag is a hash of all of these inputs, so
//! an unchanged recipe reuses the image.

use super::{docker, ExecuteError, RunnerConfig};
use futures_util::stream;
use sha2::{Digest, Sha256};
use std::borrow::BorrowMut;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::process::Command;

/// The in-container runner, baked into the image.
pub const RUNNER_SCRIPT: &str = include_str!("runner/runner.py");
/// Dockerfile for hosts that can pull base images; produces an equivalent image.
pub const DOCKERFILE: &str = include_str!("runner/Dockerfile");
/// The grader's dbt profile, at `/opt/assay/profiles/profiles.yml` in the image.
pub const PROFILES_YML: &str = include_str!("runner/profiles.yml");

/// dbt-core 1.12 downloads a wheel from the web while installing: stay on 1.11.
/// DuckDB >= 1.4 is needed by the `merge` incremental strategy.
pub const DEFAULT_REQUIREMENTS: &[&str] =
    &["dbt-core~=1.11.0", "dbt-duckdb~=1.11.0", "duckdb>=1.4,<3"];

/// Debian packages added to `minbase`. libfaketime makes "now" inside dbt the
/// phase's sync time (runner.py, `clock_env`).
const DEBIAN_PACKAGES: &[&str] = &["python3", "python3-venv", "libfaketime"];

/// Bump when the recipe below changes in a way the hashed inputs do not show.
const RECIPE_VERSION: &str = "assay-runner-recipe-3";

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

/// Tag of the image the current recipe produces: a hash of the runner script,
/// the Dockerfile, the package pins, the Debian suite and the recipe version.
pub fn runner_image_tag(cfg: &RunnerConfig, suite: &str) -> String {
    let mut h = Sha256::new();
    for part in [
        RECIPE_VERSION,
        RUNNER_SCRIPT,
        DOCKERFILE,
        PROFILES_YML,
        suite,
    ] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    for p in DEBIAN_PACKAGES {
        h.update(p.as_bytes());
        h.update([1]);
    }
    for r in &cfg.python_requirements {
        h.update(r.as_bytes());
        h.update([2]);
    }
    format!("{}:{}", cfg.image_name, &hex::encode(h.finalize())[..16])
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

/// Makes sure the runner image exists in the local engine and returns its tag,
/// building it when missing (or when `force_rebuild`).
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

pub async fn ensure_runner_image(
    cfg: &RunnerConfig,
    progress: &Progress<'_>,
) -> Result<String, ExecuteError> {
    let source = host_debian_source(cfg)?;
    let tag = runner_image_tag(cfg, &source.suite);
    let docker = docker::connect().await?;
    if !cfg.force_rebuild && docker::image_exists(&docker, &tag).await? {
        progress.finish(&format!("runner image {tag} present"));
        return Ok(tag);
    }
    let cache = cache_root(cfg)?.join("runner");
    std::fs::create_dir_all(&cache).map_err(|e| ExecuteError::io(&cache, e))?;
    // Graders started together (a batch, parallel CI jobs, the test suite)
    // share the cached root filesystem and wheels: one builds, the others wait
    // and then find the image.
    let _build_lock = lock_builds(&cache, progress).await?;
    if !cfg.force_rebuild && docker::image_exists(&docker, &tag).await? {
        progress.finish(&format!("runner image {tag} built by another grader"));
        return Ok(tag);
    }
    let work = tempfile::Builder::new()
        .prefix("build-")
        .tempdir_in(&cache)
        .map_err(|e| ExecuteError::io(&cache, e))?;
    let rootfs = work.path().join("rootfs");

    let base = ensure_base_rootfs(&cache, &source, progress).await?;
    progress.step("building runner image: copying base filesystem…");
    run_step(
        "copy base",
        Command::new("cp").arg("-a").arg(&base).arg(&rootfs),
    )
    .await?;

    let py = probe_python(&rootfs).await?;
    let wheels = ensure_wheels(cfg, &cache, &py, progress).await?;

    progress.step("building runner image: installing dbt…");
    let wheel_dir = rootfs.join("tmp/wheels");
    run_step(
        "copy wheels",
        Command::new("cp").arg("-a").arg(&wheels).arg(&wheel_dir),
    )
    .await?;
    run_step(
        "create venv",
        chroot(&rootfs, &["/usr/bin/python3", "-m", "venv", "/opt/dbt"]),
    )
    .await?;
    let mut pip: Vec<&str> = vec![
        "/opt/dbt/bin/pip",
        "install",
        "--no-index",
        "--no-cache-dir",
        "--find-links",
        "/tmp/wheels",
    ];
    pip.extend(cfg.python_requirements.iter().map(String::as_str));
    run_step("install dbt", chroot(&rootfs, &pip)).await?;
    remove_dir(&wheel_dir)?;
    run_step(
        "check dbt",
        chroot(
            &rootfs,
            &[
                "/opt/dbt/bin/python",
                "-c",
                "import dbt.version, dbt.adapters.duckdb, duckdb",
            ],
        ),
    )
    .await?;

    progress.step("building runner image: adding user and runner…");
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
    for dir in ["work", "home/runner", "opt/assay/profiles"] {
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
    let script = rootfs.join("opt/assay/runner.py");
    std::fs::write(&script, RUNNER_SCRIPT).map_err(|e| ExecuteError::io(&script, e))?;
    let profiles = rootfs.join("opt/assay/profiles/profiles.yml");
    std::fs::write(&profiles, PROFILES_YML).map_err(|e| ExecuteError::io(&profiles, e))?;
    slim(&rootfs)?;

    progress.step("building runner image: importing…");
    let (repo, tag_part) = tag.split_once(':').unwrap_or((&tag, "latest"));
    import_tree(&docker, &rootfs, repo, tag_part).await?;
    drop(work);
    progress.finish(&format!("runner image {tag} built"));
    Ok(tag)
}

/// Docker-style settings applied at import: what a Dockerfile would say.
fn image_changes() -> Vec<String> {
    vec![
        "ENV PATH=/opt/dbt/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
        "ENV LANG=C.UTF-8".into(),
        "ENV DBT_SEND_ANONYMOUS_USAGE_STATS=false".into(),
        format!("USER {RUNNER_UID}"),
        "WORKDIR /work".into(),
        r#"CMD ["/opt/dbt/bin/python", "/opt/assay/runner.py", "idle", "86400"]"#.into(),
    ]
}

async fn import_tree(
    docker: &bollard::Docker,
    rootfs: &Path,
    repo: &str,
    tag: &str,
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
    docker::import_rootfs(docker, repo, tag, image_changes(), body).await?;
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
    progress: &Progress<'_>,
) -> Result<PathBuf, ExecuteError> {
    let mut h = Sha256::new();
    h.update(source.mirror.as_bytes());
    h.update([0]);
    h.update(source.suite.as_bytes());
    for p in DEBIAN_PACKAGES {
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
        "building runner image: debootstrap {} from {}…",
        source.suite, source.mirror
    ));
    let partial = cache.join(format!("base-{}-{key}.partial", source.suite));
    if partial.exists() {
        remove_dir(&partial)?;
    }
    let include = format!("--include={}", DEBIAN_PACKAGES.join(","));
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

/// Wheels for the image's Python, downloaded by the host's pip (so its index,
/// proxy and certificate settings apply) and cached per requirement set.
async fn ensure_wheels(
    cfg: &RunnerConfig,
    cache: &Path,
    py: &ImagePython,
    progress: &Progress<'_>,
) -> Result<PathBuf, ExecuteError> {
    let mut h = Sha256::new();
    for r in &cfg.python_requirements {
        h.update(r.as_bytes());
        h.update([0]);
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
    progress.step("building runner image: downloading dbt wheels…");
    if dir.exists() {
        remove_dir(&dir)?;
    }
    let (program, base_args) = cfg
        .host_pip
        .split_first()
        .ok_or_else(|| ExecuteError::HostConfig("host_pip is empty".into()))?;
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
    cmd.args(&cfg.python_requirements);
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
