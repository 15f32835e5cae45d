//! An exercise pack: its rubric, its starter and (with the execution stage) its
//! seeded data and hidden checks. Packs are read from the assay home: the folder
//! named by `--packs` or `ASSAY_HOME`, or the copy embedded in the binary
//! (see [`crate::packs`]).

use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct Exercise {
    pub id: String,
    pub home: PathBuf,
    /// `fixtures/<id>/`
    pub pack_dir: PathBuf,
    /// `rubric/<id>.toml`
    pub rubric_path: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum ExerciseError {
    #[error("`{0}` is not an exercise name (letters, digits and dashes only)")]
    BadName(String),
    #[error("no exercise `{id}`: {path} does not exist.{} `assay exercises` lists the exercises of {home}; --packs DIR or ASSAY_HOME names the folder that holds rubric/ and fixtures/", crate::suggest::did_you_mean(&close.iter().map(String::as_str).collect::<Vec<_>>()))]
    Missing {
        id: String,
        path: PathBuf,
        home: PathBuf,
        /// The known exercises closest to `id`.
        close: Vec<String>,
    },
    #[error(transparent)]
    Packs(#[from] crate::packs::PacksError),
}

/// An exercise pack as `assay exercises` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    pub id: String,
    /// The first heading of the starter's EXERCISE.md (or README.md).
    pub title: Option<String>,
    /// Whether `fixtures/<id>/` exists: without it only static checks can run.
    pub has_pack: bool,
    pub rubric_path: PathBuf,
}

/// Every exercise in `home`: one per `rubric/<id>.toml`, sorted by id.
pub fn list_in(home: &Path) -> std::io::Result<Vec<Listing>> {
    let mut found = Vec::new();
    let dir = home.join("rubric");
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(found),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let path = entry?.path();
        let Some(id) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".toml"))
            .filter(|id| is_exercise_name(id))
        else {
            continue;
        };
        let pack_dir = home.join("fixtures").join(id);
        let title = ["EXERCISE.md", "README.md"]
            .iter()
            .find_map(|f| first_heading(&pack_dir.join("starter").join(f)));
        found.push(Listing {
            id: id.to_string(),
            title,
            has_pack: pack_dir.is_dir(),
            rubric_path: path.clone(),
        });
    }
    found.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(found)
}

fn is_exercise_name(id: &str) -> bool {
    !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// The text of a Markdown file's first `# ` heading.
fn first_heading(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("# "))
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
}

/// Where rubric/ and fixtures/ live.
pub fn home() -> Result<PathBuf, ExerciseError> {
    Ok(crate::packs::source()?.home().to_path_buf())
}

impl Exercise {
    pub fn locate(id: &str) -> Result<Exercise, ExerciseError> {
        if !is_exercise_name(id) {
            return Err(ExerciseError::BadName(id.to_string()));
        }
        Exercise::locate_in(&home()?, id)
    }

    pub fn locate_in(home: &Path, id: &str) -> Result<Exercise, ExerciseError> {
        if !is_exercise_name(id) {
            return Err(ExerciseError::BadName(id.to_string()));
        }
        let rubric_path = home.join("rubric").join(format!("{id}.toml"));
        if !rubric_path.is_file() {
            let known = list_in(home).unwrap_or_default();
            let close = crate::suggest::closest(id, known.iter().map(|l| l.id.as_str()))
                .into_iter()
                .map(str::to_string)
                .collect();
            return Err(ExerciseError::Missing {
                id: id.to_string(),
                path: rubric_path,
                home: home.to_path_buf(),
                close,
            });
        }
        Ok(Exercise {
            id: id.to_string(),
            home: home.to_path_buf(),
            pack_dir: home.join("fixtures").join(id),
            rubric_path,
        })
    }

    /// The repository candidates receive, when the pack ships one.
    pub fn starter_dir(&self) -> Option<PathBuf> {
        let dir = self.pack_dir.join("starter");
        dir.is_dir().then_some(dir)
    }

    pub fn reference_solutions_dir(&self) -> PathBuf {
        self.home.join("reference-solutions").join(&self.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn home_with(files: &[(&str, &str)]) -> tempfile::TempDir {
        let home = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let path = home.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        home
    }

    #[test]
    fn packs_are_listed_with_their_starters_title() {
        let home = home_with(&[
            ("rubric/shop-elt.toml", ""),
            ("rubric/not an id.toml", ""),
            ("rubric/notes.md", ""),
            ("rubric/bare.toml", ""),
            (
                "fixtures/shop-elt/starter/EXERCISE.md",
                "intro\n# Shop ELT: take-home\n# later\n",
            ),
            ("fixtures/dags/x.py", ""),
        ]);
        let listed = list_in(home.path()).unwrap();
        let ids: Vec<&str> = listed.iter().map(|l| l.id.as_str()).collect();
        assert_eq!(ids, ["bare", "shop-elt"]);
        assert_eq!(listed[1].title.as_deref(), Some("Shop ELT: take-home"));
        assert!(listed[1].has_pack);
        assert_eq!(listed[0].title, None);
        assert!(!listed[0].has_pack);
        assert!(list_in(&home.path().join("nowhere")).unwrap().is_empty());
    }

    #[test]
    fn a_mistyped_exercise_suggests_the_close_one() {
        let home = home_with(&[("rubric/marketplace-elt.toml", "")]);
        let err = Exercise::locate_in(home.path(), "marketplace-etl").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("Did you mean `marketplace-elt`?"), "{text}");
        assert!(text.contains("assay exercises"), "{text}");
        let err = Exercise::locate_in(home.path(), "warehouse").unwrap_err();
        assert!(!err.to_string().contains("Did you mean"), "{err}");
    }
}
