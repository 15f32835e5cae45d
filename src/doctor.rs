//! `assay doctor`: whether this machine has what an executed grade needs, one
//! line per prerequisite, before a first grade fails half-way or silently
//! falls back to grading from the code alone.
//!
//! Doctor changes nothing: it builds no image, generates no data, installs
//! nothing. The only trace it leaves is a file it creates and removes at once
//! to learn whether the cache folder is writable.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::Config;
use crate::execute::{docker, image};

/// How long the engine may take to answer a ping before it counts as absent.
const ENGINE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Ok,
    Missing,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Ok => "ok",
            State::Missing => "missing",
        }
    }
}

/// One prerequisite.
#[derive(Debug, Clone)]
pub struct Line {
    pub name: String,
    pub state: State,
    /// What was found, and what to do when it is missing.
    pub detail: String,
    /// Whether an executed grade cannot run without it. A missing runner
    /// image the first grade can build, or a missing browser, does not block.
    pub blocks: bool,
}

#[derive(Debug, Clone)]
pub struct Diagnosis {
    pub lines: Vec<Line>,
}

impl Diagnosis {
    /// Everything an executed grade needs is there.
    pub fn ready(&self) -> bool {
        !self.lines.iter().any(|l| l.blocks)
    }

    /// The names of what blocks an executed grade.
    pub fn blockers(&self) -> Vec<&str> {
        self.lines
            .iter()
            .filter(|l| l.blocks)
            .map(|l| l.name.as_str())
            .collect()
    }
}

fn line(name: &str, state: State, detail: impl Into<String>, blocks: bool) -> Line {
    Line {
        name: name.to_string(),
        state,
        detail: detail.into(),
        blocks,
    }
}

/// Looks at everything an executed grade of any exercise in the packs needs.
pub async fn diagnose(
    config: &Config,
    packs: Result<&crate::packs::Source, &crate::packs::PacksError>,
) -> Diagnosis {
    let mut lines = vec![packs_line(packs)];
    let home = packs.ok().map(|p| p.home());

    let engine = tokio::time::timeout(ENGINE_TIMEOUT, docker::connect()).await;
    let engine = match engine {
        Ok(Ok(engine)) => {
            let version = engine
                .version()
                .await
                .ok()
                .and_then(|v| v.version)
                .map(|v| format!("Docker {v}"))
                .unwrap_or_else(|| "an engine".into());
            lines.push(line(
                "docker engine",
                State::Ok,
                format!("{version} answers"),
                false,
            ));
            Some(engine)
        }
        Ok(Err(e)) => {
            lines.push(line(
                "docker engine",
                State::Missing,
                format!("cannot connect ({e}): start the engine or set DOCKER_HOST; without it `assay grade` grades from the code alone"),
                true,
            ));
            None
        }
        Err(_) => {
            lines.push(line(
                "docker engine",
                State::Missing,
                format!(
                    "no answer within {} s: start the engine or set DOCKER_HOST",
                    ENGINE_TIMEOUT.as_secs()
                ),
                true,
            ));
            None
        }
    };

    let debootstrap = on_path("debootstrap");
    let apt_get = on_path("apt-get").is_some();
    let euid = effective_uid();
    let root = euid == Some(0);
    // The first grade builds a missing image, as root, with debootstrap
    // (which it installs with apt-get when missing).
    let can_build = root && (debootstrap.is_some() || apt_get);

    let image_present = match image::host_debian_source(&config.runner) {
        Err(e) => {
            lines.push(line(
                "runner image",
                State::Missing,
                format!("cannot name the image: {e}"),
                true,
            ));
            false
        }
        Ok(source) => {
            let tag = image::runner_image_tag(&config.runner, &source.suite);
            let present = match &engine {
                Some(engine) => docker::image_exists(engine, &tag).await.ok(),
                None => None,
            };
            match present {
                Some(true) => lines.push(line(
                    "runner image",
                    State::Ok,
                    format!("{tag} is built"),
                    false,
                )),
                Some(false) if can_build => lines.push(line(
                    "runner image",
                    State::Missing,
                    format!("{tag} is not built yet: the first `assay grade` builds it (a few minutes, from {} {})", source.mirror, source.suite),
                    false,
                )),
                Some(false) => lines.push(line(
                    "runner image",
                    State::Missing,
                    format!("{tag} is not built, and building it needs root and debootstrap (see below)"),
                    true,
                )),
                // The engine's own line already blocks.
                None => lines.push(line(
                    "runner image",
                    State::Missing,
                    format!("{tag}: cannot tell without an engine"),
                    false,
                )),
            }
            present == Some(true)
        }
    };

    // The images of the other workloads the packs ask for, never blocking:
    // the first executed grade of such an exercise builds its image.
    let exercises = home
        .map(|h| crate::exercise::list_in(h).unwrap_or_default())
        .unwrap_or_default();
    if let Some(home) = home {
        for (recipe, ids) in workload_recipes(config, home, &exercises) {
            let Ok(source) = image::host_debian_source(&config.runner) else {
                break;
            };
            let tag = recipe.tag(&source.suite);
            let present = match &engine {
                Some(engine) => docker::image_exists(engine, &tag).await.ok(),
                None => None,
            };
            lines.push(match present {
                Some(true) => line("runner image", State::Ok, format!("{tag} is built"), false),
                _ => line(
                    "runner image",
                    State::Missing,
                    format!(
                        "{tag} is not built yet: the first executed grade of {} builds it",
                        ids.join(", ")
                    ),
                    false,
                ),
            });
        }
    }

    lines.push(match (&debootstrap, apt_get) {
        (Some(path), _) => line(
            "debootstrap",
            State::Ok,
            format!("{} (builds the runner image)", path.display()),
            false,
        ),
        (None, true) => line(
            "debootstrap",
            State::Missing,
            "not on PATH: building the runner image installs it with apt-get",
            false,
        ),
        (None, false) => line(
            "debootstrap",
            State::Missing,
            "not on PATH, and no apt-get to install it: the runner image cannot be built here",
            !image_present,
        ),
    });
    lines.push(match euid {
        Some(0) => line("root", State::Ok, "running as root (building the runner image needs it: debootstrap, chroot)", false),
        Some(uid) => line(
            "root",
            State::Missing,
            format!("running as uid {uid}: building the runner image needs root (debootstrap, chroot); grading with a built image does not"),
            !image_present,
        ),
        None => line(
            "root",
            State::Missing,
            "cannot tell the user id (no /proc/self/status)",
            !image_present,
        ),
    });

    lines.push(data_line(config, home, &exercises));
    lines.push(match browser() {
        Some(path) => line(
            "chromium",
            State::Ok,
            format!("{} (only the report's browser test uses it)", path.display()),
            false,
        ),
        None => line(
            "chromium",
            State::Missing,
            "not on PATH: only the report's browser test needs it (apt-get install chromium fonts-dejavu-core); grading does not",
            false,
        ),
    });
    // Without packs there is no rubric to read: the packs line says why.
    if let Some(home) = home {
        lines.extend(rubric_lines(home, &exercises));
    }
    Diagnosis { lines }
}

/// Which exercise packs grades use: the embedded copy, `--packs` or `ASSAY_HOME`.
fn packs_line(packs: Result<&crate::packs::Source, &crate::packs::PacksError>) -> Line {
    match packs {
        Ok(source) if source.home().join("rubric").is_dir() => {
            line("packs", State::Ok, source.describe(), false)
        }
        Ok(source) => line(
            "packs",
            State::Missing,
            format!("no rubric/ in {}", source.describe()),
            true,
        ),
        Err(e) => line("packs", State::Missing, e.to_string(), true),
    }
}

/// The seeded data each exercise runs on: present, or a cache folder where
/// the first executed grade can write it.
/// The recipes besides dbt's that the packs' workloads need, each with the
/// exercises that need it.
fn workload_recipes(
    config: &Config,
    home: &Path,
    exercises: &[crate::exercise::Listing],
) -> Vec<(image::Recipe, Vec<String>)> {
    let mut pytest = Vec::new();
    let mut airflow = Vec::new();
    for e in exercises.iter().filter(|e| e.has_pack) {
        let Ok(w) = crate::execute::workloads::Workloads::of(&home.join("fixtures").join(&e.id))
        else {
            continue;
        };
        if w.python_tests.is_some() {
            pytest.push(e.id.clone());
        }
        if w.dag_load.is_some() {
            airflow.push(e.id.clone());
        }
    }
    let mut out = Vec::new();
    if !pytest.is_empty() {
        out.push((image::Recipe::pytest(&config.runner), pytest));
    }
    if !airflow.is_empty() {
        out.push((image::Recipe::airflow(&config.runner), airflow));
    }
    out
}

fn data_line(config: &Config, home: Option<&Path>, exercises: &[crate::exercise::Listing]) -> Line {
    let root = match image::cache_root(&config.runner) {
        Ok(root) => root,
        Err(e) => return line("data cache", State::Missing, e.to_string(), true),
    };
    let (seed, scale) = (config.data.seed, config.data.scale);
    // Only the dbt exercises have seeded data.
    let seeded = |id: &str| {
        home.and_then(|h| {
            crate::execute::workloads::Workloads::of(&h.join("fixtures").join(id)).ok()
        })
        .is_none_or(|w| w.dbt_phases)
    };
    let missing: Vec<&str> = exercises
        .iter()
        .filter(|e| seeded(&e.id))
        .filter(|e| {
            !crate::execute::stage::data_dir(&root, &e.id, seed, scale)
                .join("manifest.json")
                .is_file()
        })
        .map(|e| e.id.as_str())
        .collect();
    let data = root.join("data");
    if missing.is_empty() {
        return line(
            "data cache",
            State::Ok,
            format!(
                "{} holds the seeded data (seed {seed}, scale {scale})",
                data.display()
            ),
            false,
        );
    }
    if writable(&data) {
        line(
            "data cache",
            State::Missing,
            format!(
                "no seeded data yet for {} in {}: the first executed grade generates it once",
                missing.join(", "),
                data.display()
            ),
            false,
        )
    } else {
        line(
            "data cache",
            State::Missing,
            format!(
                "{} is not writable: set [runner] cache_dir in the --config file, or XDG_CACHE_HOME",
                data.display()
            ),
            true,
        )
    }
}

fn rubric_lines(home: &Path, exercises: &[crate::exercise::Listing]) -> Vec<Line> {
    if exercises.is_empty() {
        return vec![line(
            "rubric",
            State::Missing,
            format!(
                "no rubric/<exercise>.toml in {}: --packs DIR or ASSAY_HOME names the folder that holds rubric/ and fixtures/",
                home.display()
            ),
            true,
        )];
    }
    exercises
        .iter()
        .map(|listing| {
            let loaded = crate::exercise::Exercise::locate_in(home, &listing.id)
                .map_err(|e| e.to_string())
                .and_then(|ex| crate::grade::load_rubric(&ex).map_err(|e| e.to_string()));
            match loaded {
                Ok(rubric) if listing.has_pack => line(
                    "rubric",
                    State::Ok,
                    format!(
                        "{}: parses ({} dimensions, {} criteria)",
                        listing.id,
                        rubric.dimensions.len(),
                        rubric.dimensions.iter().map(|d| d.criteria.len()).sum::<usize>()
                    ),
                    false,
                ),
                Ok(_) => line(
                    "rubric",
                    State::Missing,
                    format!(
                        "{}: the rubric parses, but fixtures/{}/ is missing: no seeded data or hidden checks to execute against",
                        listing.id, listing.id
                    ),
                    true,
                ),
                Err(e) => line("rubric", State::Missing, e, true),
            }
        })
        .collect()
}

/// An executable file of that name on PATH.
fn on_path(program: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// The browser the report's browser test drives (tests/report_render.rs).
fn browser() -> Option<PathBuf> {
    ["chromium", "chromium-browser"]
        .into_iter()
        .find_map(on_path)
}

/// The effective user id, read from /proc: asking the C library would need
/// unsafe code.
fn effective_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let uids = status.lines().find_map(|l| l.strip_prefix("Uid:"))?;
    uids.split_whitespace().nth(1)?.parse().ok()
}

/// Whether files can be created in `dir`, or in the folder that would hold
/// it once created.
fn writable(dir: &Path) -> bool {
    let existing = dir.ancestors().find(|a| a.is_dir());
    existing.is_some_and(|d| tempfile::tempfile_in(d).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_effective_uid_is_read() {
        // Whatever the runner's uid, /proc says the same as the owner of a
        // file this process creates.
        use std::os::unix::fs::MetadataExt;
        let file = tempfile::NamedTempFile::new().unwrap();
        let owner = file.as_file().metadata().unwrap().uid();
        assert_eq!(effective_uid(), Some(owner));
    }

    #[test]
    fn a_folder_under_a_writable_one_is_writable() {
        let dir = tempfile::tempdir().unwrap();
        assert!(writable(&dir.path().join("not/yet/there")));
        assert!(!dir.path().join("not").exists(), "doctor created nothing");
    }

    #[test]
    fn a_pack_without_fixtures_or_a_broken_rubric_blocks() {
        let home = tempfile::tempdir().unwrap();
        let rubric = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("rubric/marketplace-elt.toml"),
        )
        .unwrap();
        std::fs::create_dir_all(home.path().join("rubric")).unwrap();
        std::fs::write(home.path().join("rubric/nopack.toml"), &rubric).unwrap();
        std::fs::write(home.path().join("rubric/broken.toml"), "version = [").unwrap();
        let listed = crate::exercise::list_in(home.path()).unwrap();
        let lines = rubric_lines(home.path(), &listed);
        assert_eq!(lines.len(), 2);
        assert!(lines.iter().all(|l| l.blocks && l.state == State::Missing));
        assert!(
            lines[0].detail.starts_with("broken") || lines[0].detail.contains("broken.toml"),
            "{}",
            lines[0].detail
        );
        assert!(
            lines[1].detail.contains("fixtures/nopack/ is missing"),
            "{}",
            lines[1].detail
        );
        let none = rubric_lines(&home.path().join("elsewhere"), &[]);
        assert!(none[0].blocks && none[0].detail.contains("ASSAY_HOME"));
    }
}
