//! Inventory: what the submission holds, classified the way dbt and Airflow would
//! find it. Later stages read files only through the paths listed here.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Files larger than this are listed but never classified by content.
const MAX_CLASSIFY_BYTES: u64 = 1024 * 1024;
/// Folders that hold generated or third-party files, never the candidate's work.
const IGNORED_DIRS: &[&str] = &[
    "dbt_packages",
    "dbt_modules",
    "target",
    "logs",
    "node_modules",
    ".venv",
    "venv",
    "__pycache__",
];

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct Inventory {
    #[serde(skip)]
    #[schemars(skip)]
    pub root: PathBuf,
    pub files: Vec<FileEntry>,
    pub dbt_projects: Vec<DbtProject>,
    /// Python files that import Airflow.
    pub dags: Vec<String>,
    pub docs: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct FileEntry {
    pub path: String,
    pub size: u64,
    /// SHA-256 of the content with CRLF folded to LF, so a checkout on Windows
    /// does not turn starter files into "changed" ones.
    pub sha256: String,
    pub origin: Origin,
}

/// Whether a file is the candidate's work or came with the starter unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// No starter to compare with.
    Unknown,
    Added,
    Modified,
    StarterUnchanged,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct DbtProject {
    /// Folder of `dbt_project.yml`, relative to the submission root ("" for the root).
    pub root: String,
    pub name: Option<String>,
    pub profile: Option<String>,
    /// Why `dbt_project.yml` could not be read, when it could not.
    pub error: Option<String>,
    pub models: Vec<String>,
    pub yaml: Vec<String>,
    pub seeds: Vec<String>,
    pub singular_tests: Vec<String>,
    pub macros: Vec<String>,
    pub snapshots: Vec<String>,
    pub packages_file: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct ProjectFile {
    name: Option<String>,
    profile: Option<String>,
    #[serde(rename = "model-paths", alias = "source-paths")]
    model_paths: Option<Vec<String>>,
    #[serde(rename = "seed-paths", alias = "data-paths")]
    seed_paths: Option<Vec<String>>,
    #[serde(rename = "test-paths")]
    test_paths: Option<Vec<String>>,
    #[serde(rename = "macro-paths")]
    macro_paths: Option<Vec<String>>,
    #[serde(rename = "snapshot-paths")]
    snapshot_paths: Option<Vec<String>>,
}

impl Inventory {
    pub fn build(root: &Path) -> std::io::Result<Inventory> {
        let mut files = Vec::new();
        walk(root, root, &mut files)?;
        files.sort_by(|a, b| a.path.cmp(&b.path));

        let mut inventory = Inventory {
            root: root.to_path_buf(),
            files,
            ..Inventory::default()
        };
        let project_files: Vec<String> = inventory
            .files
            .iter()
            .filter(|f| f.path == "dbt_project.yml" || f.path.ends_with("/dbt_project.yml"))
            .map(|f| f.path.clone())
            .collect();
        for project_file in project_files {
            let project = inventory.read_project(&project_file);
            inventory.dbt_projects.push(project);
        }
        for file in &inventory.files {
            if file.path.ends_with(".py")
                && file.size <= MAX_CLASSIFY_BYTES
                && imports_airflow(&root.join(&file.path))
            {
                inventory.dags.push(file.path.clone());
            }
            let lower = file.path.to_ascii_lowercase();
            if lower.ends_with(".md") || lower.ends_with(".markdown") || lower.ends_with(".rst") {
                inventory.docs.push(file.path.clone());
            }
        }
        Ok(inventory)
    }

    fn read_project(&self, project_file: &str) -> DbtProject {
        let root = project_file
            .strip_suffix("dbt_project.yml")
            .unwrap_or("")
            .trim_end_matches('/')
            .to_string();
        let mut project = DbtProject {
            root: root.clone(),
            ..DbtProject::default()
        };
        let parsed: ProjectFile = match self
            .read_text(project_file)
            .map_err(|e| e.to_string())
            .and_then(|t| crate::yaml::parse(&t).map_err(|e| e.to_string()))
        {
            Ok(p) => p,
            Err(e) => {
                project.error = Some(e);
                ProjectFile::default()
            }
        };
        project.name = parsed.name;
        project.profile = parsed.profile;
        let under = |dirs: Option<Vec<String>>, default: &str| -> Vec<String> {
            dirs.unwrap_or_else(|| vec![default.to_string()])
                .into_iter()
                .map(|d| join(&root, d.trim_matches('/')))
                .collect()
        };
        let model_dirs = under(parsed.model_paths, "models");
        let seed_dirs = under(parsed.seed_paths, "seeds");
        let test_dirs = under(parsed.test_paths, "tests");
        let macro_dirs = under(parsed.macro_paths, "macros");
        let snapshot_dirs = under(parsed.snapshot_paths, "snapshots");
        for file in &self.files {
            let path = &file.path;
            let in_any = |dirs: &[String]| dirs.iter().any(|d| is_under(path, d));
            let ext = path.rsplit('.').next().unwrap_or("").to_ascii_lowercase();
            let yaml = ext == "yml" || ext == "yaml";
            if in_any(&model_dirs) && (ext == "sql" || ext == "py") {
                project.models.push(path.clone());
            } else if in_any(&seed_dirs) && ext == "csv" {
                project.seeds.push(path.clone());
            } else if in_any(&test_dirs) && ext == "sql" {
                project.singular_tests.push(path.clone());
            } else if in_any(&macro_dirs) && ext == "sql" {
                project.macros.push(path.clone());
            } else if in_any(&snapshot_dirs) && ext == "sql" {
                project.snapshots.push(path.clone());
            }
            if yaml
                && (in_any(&model_dirs)
                    || in_any(&seed_dirs)
                    || in_any(&test_dirs)
                    || in_any(&macro_dirs)
                    || in_any(&snapshot_dirs))
            {
                project.yaml.push(path.clone());
            }
            if *path == join(&root, "packages.yml") || *path == join(&root, "dependencies.yml") {
                project.packages_file = Some(path.clone());
            }
        }
        project
    }

    /// Reads a listed file as text, refusing files over `max` bytes.
    pub fn read_text_capped(&self, rel: &str, max: u64) -> Result<String, InventoryError> {
        let entry = self
            .files
            .iter()
            .find(|f| f.path == rel)
            .ok_or_else(|| InventoryError::NotListed(rel.to_string()))?;
        if entry.size > max {
            return Err(InventoryError::TooLarge {
                path: rel.to_string(),
                size: entry.size,
                max,
            });
        }
        let bytes =
            fs::read(self.root.join(rel)).map_err(|e| InventoryError::Io(rel.to_string(), e))?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    pub fn read_text(&self, rel: &str) -> Result<String, InventoryError> {
        self.read_text_capped(rel, MAX_CLASSIFY_BYTES * 8)
    }

    pub fn file(&self, rel: &str) -> Option<&FileEntry> {
        self.files.iter().find(|f| f.path == rel)
    }

    /// Marks every file as added, modified or unchanged against the starter that
    /// the exercise hands out, so that no check credits the starter's own content.
    pub fn compare_with_starter(&mut self, starter: &Inventory) {
        let starter_files: BTreeMap<&str, &str> = starter
            .files
            .iter()
            .map(|f| (f.path.as_str(), f.sha256.as_str()))
            .collect();
        for file in &mut self.files {
            file.origin = match starter_files.get(file.path.as_str()) {
                None => Origin::Added,
                Some(hash) if *hash == file.sha256 => Origin::StarterUnchanged,
                Some(_) => Origin::Modified,
            };
        }
    }

    /// Whether the candidate wrote or changed this file.
    pub fn is_candidate_work(&self, rel: &str) -> bool {
        self.file(rel)
            .is_some_and(|f| f.origin != Origin::StarterUnchanged)
    }
}

impl Inventory {
    /// Whether the files have the shape of a submission at all: a dbt project
    /// or an Airflow DAG. Either alone is a partial submission, and graded;
    /// neither means the source is something else (an empty folder, the wrong
    /// repository), and a grade of it would be a meaningless zero.
    pub fn holds_submission(&self) -> bool {
        !self.dbt_projects.is_empty() || !self.dags.is_empty()
    }

    /// Puts the dbt project to grade first, where the execution stage and the
    /// dbt analyser both look. `wanted` (its folder, or its `dbt_project.yml`,
    /// relative to the submission's root) keeps that project alone: the
    /// interviewer said which one is the work. Without it, the project holding
    /// the most models the candidate wrote or changed, then one with any
    /// models, then the first: an untouched copy of the starter beside the
    /// real work must not be graded in its place.
    pub fn choose_project(&mut self, wanted: Option<&str>) -> Result<(), NoSuchProject> {
        if let Some(wanted) = wanted {
            let root = project_root_of(wanted);
            let Some(i) = self.dbt_projects.iter().position(|p| p.root == root) else {
                return Err(NoSuchProject {
                    wanted: wanted.to_string(),
                    found: self.dbt_projects.iter().map(DbtProject::file).collect(),
                });
            };
            self.dbt_projects = vec![self.dbt_projects.swap_remove(i)];
            return Ok(());
        }
        let best = self
            .dbt_projects
            .iter()
            .enumerate()
            .max_by_key(|(i, p)| {
                let written = p
                    .models
                    .iter()
                    .filter(|m| self.is_candidate_work(m))
                    .count();
                (written, !p.models.is_empty(), std::cmp::Reverse(*i))
            })
            .map(|(i, _)| i);
        if let Some(i) = best {
            let chosen = self.dbt_projects.remove(i);
            self.dbt_projects.insert(0, chosen);
        }
        Ok(())
    }

    /// The project [`Inventory::choose_project`] put first.
    pub fn graded_project(&self) -> Option<&DbtProject> {
        self.dbt_projects.first()
    }
}

impl DbtProject {
    /// Its `dbt_project.yml`, relative to the submission's root: how people
    /// find it, and unambiguous for the top-level project too.
    pub fn file(&self) -> String {
        join(&self.root, "dbt_project.yml")
    }
}

/// The folder a `--project` argument names: `warehouse`, `./warehouse/`,
/// `warehouse/dbt_project.yml`; `.` or `dbt_project.yml` for the top level.
fn project_root_of(wanted: &str) -> String {
    let mut rest = wanted.trim();
    while let Some(r) = rest.strip_prefix("./") {
        rest = r;
    }
    let rest = if rest == "dbt_project.yml" {
        ""
    } else {
        rest.strip_suffix("/dbt_project.yml").unwrap_or(rest)
    };
    let rest = rest.trim_matches('/');
    if rest == "." {
        String::new()
    } else {
        rest.to_string()
    }
}

/// `--project` names no dbt project of the submission.
#[derive(Debug, thiserror::Error)]
#[error(
    "`--project {wanted}` names no dbt project of the submission; {}",
    list_projects(found)
)]
pub struct NoSuchProject {
    pub wanted: String,
    /// Each project's `dbt_project.yml`.
    pub found: Vec<String>,
}

fn list_projects(found: &[String]) -> String {
    if found.is_empty() {
        "it holds none".into()
    } else {
        format!("its dbt projects: {}", found.join(", "))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    #[error("{0} is not part of the submission")]
    NotListed(String),
    #[error("{path} is {size} bytes, over the {max}-byte cap for this reader")]
    TooLarge { path: String, size: u64, max: u64 },
    #[error("cannot read {0}: {1}")]
    Io(String, std::io::Error),
}

fn join(root: &str, rest: &str) -> String {
    if root.is_empty() {
        rest.to_string()
    } else {
        format!("{root}/{rest}")
    }
}

fn is_under(path: &str, dir: &str) -> bool {
    dir.is_empty()
        || path
            .strip_prefix(dir)
            .is_some_and(|rest| rest.starts_with('/'))
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<FileEntry>) -> std::io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let meta = fs::symlink_metadata(entry.path())?;
        let name = entry.file_name().to_string_lossy().to_string();
        if meta.is_dir() {
            if IGNORED_DIRS.contains(&name.as_str()) || name.starts_with('.') && name != ".github" {
                continue;
            }
            walk(root, &entry.path(), out)?;
        } else if meta.is_file() {
            let rel = entry
                .path()
                .strip_prefix(root)
                .map(|p| p.to_string_lossy().replace('\\', "/"))
                .unwrap_or(name);
            let bytes = fs::read(entry.path())?;
            out.push(FileEntry {
                path: rel,
                size: meta.len(),
                sha256: content_hash(&bytes),
                origin: Origin::Unknown,
            });
        }
    }
    Ok(())
}

pub fn content_hash(bytes: &[u8]) -> String {
    let mut hasher = Sha256::new();
    let mut last = 0;
    for (i, pair) in bytes.windows(2).enumerate() {
        if pair == b"\r\n" {
            hasher.update(&bytes[last..i]);
            last = i + 1;
        }
    }
    hasher.update(&bytes[last..]);
    hex::encode(hasher.finalize())
}

fn imports_airflow(path: &Path) -> bool {
    let Ok(text) = fs::read_to_string(path) else {
        return false;
    };
    text.lines().any(|line| {
        let line = line.trim_start();
        (line.starts_with("from airflow") || line.starts_with("import airflow"))
            && line[if line.starts_with("from") { 4 } else { 6 }..]
                .trim_start()
                .starts_with("airflow")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crlf_and_lf_hash_alike() {
        assert_eq!(content_hash(b"a\r\nb\r\n"), content_hash(b"a\nb\n"));
        assert_ne!(content_hash(b"a\nb\n"), content_hash(b"a\nc\n"));
    }

    #[test]
    fn classifies_a_dbt_project_and_a_dag() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("warehouse/models/staging")).unwrap();
        fs::create_dir_all(root.join("warehouse/tests")).unwrap();
        fs::create_dir_all(root.join("warehouse/dbt_packages/x/models")).unwrap();
        fs::create_dir_all(root.join("dags")).unwrap();
        fs::write(
            root.join("warehouse/dbt_project.yml"),
            "name: shop\nprofile: shop\n",
        )
        .unwrap();
        fs::write(root.join("warehouse/models/staging/stg_a.sql"), "select 1").unwrap();
        fs::write(
            root.join("warehouse/models/staging/_stg.yml"),
            "version: 2\n",
        )
        .unwrap();
        fs::write(
            root.join("warehouse/tests/assert_x.sql"),
            "select 1 where false",
        )
        .unwrap();
        fs::write(
            root.join("warehouse/dbt_packages/x/models/m.sql"),
            "select 1",
        )
        .unwrap();
        fs::write(
            root.join("dags/pipeline.py"),
            "# airflow\nfrom airflow import DAG\n",
        )
        .unwrap();
        fs::write(
            root.join("dags/helper.py"),
            "# mentions airflow only in a comment\nimport os\n",
        )
        .unwrap();
        fs::write(root.join("README.md"), "# notes").unwrap();

        let inv = Inventory::build(root).unwrap();
        assert_eq!(inv.dbt_projects.len(), 1);
        let p = &inv.dbt_projects[0];
        assert_eq!(p.root, "warehouse");
        assert_eq!(p.profile.as_deref(), Some("shop"));
        assert_eq!(p.models, vec!["warehouse/models/staging/stg_a.sql"]);
        assert_eq!(p.yaml, vec!["warehouse/models/staging/_stg.yml"]);
        assert_eq!(p.singular_tests, vec!["warehouse/tests/assert_x.sql"]);
        assert_eq!(inv.dags, vec!["dags/pipeline.py"]);
        assert_eq!(inv.docs, vec!["README.md"]);
        assert!(inv.files.iter().all(|f| !f.path.contains("dbt_packages")));
    }

    /// Two projects: `a/` an untouched copy of the starter's, `b/` the work.
    fn two_projects() -> (tempfile::TempDir, Inventory) {
        let starter_dir = tempfile::tempdir().unwrap();
        let sub_dir = tempfile::tempdir().unwrap();
        for d in [starter_dir.path().join("a"), sub_dir.path().join("a")] {
            fs::create_dir_all(d.join("models")).unwrap();
            fs::write(d.join("dbt_project.yml"), "name: a\nprofile: a\n").unwrap();
            fs::write(d.join("models/stg_x.sql"), "select 1\n").unwrap();
            fs::write(d.join("models/stg_y.sql"), "select 2\n").unwrap();
        }
        let b = sub_dir.path().join("b");
        fs::create_dir_all(b.join("models")).unwrap();
        fs::write(b.join("dbt_project.yml"), "name: b\nprofile: b\n").unwrap();
        fs::write(b.join("models/fct_orders.sql"), "select 3\n").unwrap();
        let starter = Inventory::build(starter_dir.path()).unwrap();
        let mut sub = Inventory::build(sub_dir.path()).unwrap();
        sub.compare_with_starter(&starter);
        (sub_dir, sub)
    }

    #[test]
    fn the_project_with_the_candidates_models_is_graded_first() {
        let (_dir, mut inv) = two_projects();
        assert_eq!(inv.dbt_projects[0].root, "a", "listed in path order");
        inv.choose_project(None).unwrap();
        let roots: Vec<&str> = inv.dbt_projects.iter().map(|p| p.root.as_str()).collect();
        assert_eq!(roots, ["b", "a"], "the other project is still listed");
        assert_eq!(inv.graded_project().unwrap().file(), "b/dbt_project.yml");
    }

    #[test]
    fn without_candidate_models_a_project_with_models_wins() {
        let dir = tempfile::tempdir().unwrap();
        write_files(
            dir.path(),
            &[
                ("a/dbt_project.yml", "name: a\n"),
                ("b/dbt_project.yml", "name: b\n"),
                ("b/models/m.sql", "select 1\n"),
                ("c/dbt_project.yml", "name: c\n"),
                ("c/models/n.sql", "select 1\n"),
            ],
        );
        let mut inv = Inventory::build(dir.path()).unwrap();
        inv.choose_project(None).unwrap();
        assert_eq!(inv.graded_project().unwrap().root, "b");
    }

    #[test]
    fn a_named_project_is_graded_alone_in_any_spelling() {
        for wanted in ["a", "./a/", "a/dbt_project.yml"] {
            let (_dir, mut inv) = two_projects();
            inv.choose_project(Some(wanted)).unwrap();
            let roots: Vec<&str> = inv.dbt_projects.iter().map(|p| p.root.as_str()).collect();
            assert_eq!(roots, ["a"], "--project {wanted}");
        }
        let dir = tempfile::tempdir().unwrap();
        write_files(
            dir.path(),
            &[
                ("dbt_project.yml", "name: top\n"),
                ("x/dbt_project.yml", "name: x\n"),
            ],
        );
        for wanted in [".", "./", "dbt_project.yml", "./dbt_project.yml"] {
            let mut inv = Inventory::build(dir.path()).unwrap();
            inv.choose_project(Some(wanted)).unwrap();
            assert_eq!(inv.dbt_projects.len(), 1, "--project {wanted}");
            assert_eq!(inv.dbt_projects[0].root, "", "--project {wanted}");
        }
    }

    #[test]
    fn naming_a_missing_project_lists_the_ones_there() {
        let (_dir, mut inv) = two_projects();
        let err = inv.choose_project(Some("warehouse")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "`--project warehouse` names no dbt project of the submission; its dbt projects: a/dbt_project.yml, b/dbt_project.yml"
        );
        assert_eq!(inv.dbt_projects.len(), 2, "nothing was dropped");
        // `mydbt_project.yml` is not a spelling of the top-level project.
        assert!(inv.choose_project(Some("adbt_project.yml")).is_err());
    }

    #[test]
    fn a_dbt_project_or_a_dag_alone_is_a_submission_and_neither_is_not() {
        let holds = |files: &[(&str, &str)]| {
            let dir = tempfile::tempdir().unwrap();
            write_files(dir.path(), files);
            Inventory::build(dir.path()).unwrap().holds_submission()
        };
        assert!(!holds(&[]));
        assert!(!holds(&[
            ("README.md", "# dbt and airflow\n"),
            ("etl.py", "# import airflow\nimport os\n"),
            ("models/m.sql", "select 1\n"),
        ]));
        assert!(holds(&[("warehouse/dbt_project.yml", "name: w\n")]));
        assert!(holds(&[("dags/p.py", "from airflow import DAG\n")]));
    }

    fn write_files(root: &Path, files: &[(&str, &str)]) {
        for (path, content) in files {
            let path = root.join(path);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, content).unwrap();
        }
    }

    #[test]
    fn starter_files_are_not_candidate_work() {
        let starter_dir = tempfile::tempdir().unwrap();
        let sub_dir = tempfile::tempdir().unwrap();
        for d in [starter_dir.path(), sub_dir.path()] {
            fs::write(d.join("same.sql"), "select 1\n").unwrap();
            fs::write(d.join("changed.sql"), "select 1\n").unwrap();
        }
        fs::write(sub_dir.path().join("changed.sql"), "select 2\n").unwrap();
        fs::write(sub_dir.path().join("new.sql"), "select 3\n").unwrap();
        let starter = Inventory::build(starter_dir.path()).unwrap();
        let mut sub = Inventory::build(sub_dir.path()).unwrap();
        sub.compare_with_starter(&starter);
        assert!(!sub.is_candidate_work("same.sql"));
        assert!(sub.is_candidate_work("changed.sql"));
        assert!(sub.is_candidate_work("new.sql"));
    }
}
