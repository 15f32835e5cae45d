//! An exercise pack: its rubric, its starter and (with the execution stage) its
//! seeded data and hidden checks. Packs are read from the assay home: the folder
//! named by `ASSAY_HOME`, or the source tree assay was built from.

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
    #[error("no exercise `{id}`: {path} does not exist (set ASSAY_HOME to the folder that holds rubric/ and fixtures/)")]
    Missing { id: String, path: PathBuf },
}

/// Where rubric/ and fixtures/ live.
pub fn home() -> PathBuf {
    std::env::var_os("ASSAY_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

impl Exercise {
    pub fn locate(id: &str) -> Result<Exercise, ExerciseError> {
        Exercise::locate_in(&home(), id)
    }

    pub fn locate_in(home: &Path, id: &str) -> Result<Exercise, ExerciseError> {
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(ExerciseError::BadName(id.to_string()));
        }
        let rubric_path = home.join("rubric").join(format!("{id}.toml"));
        if !rubric_path.is_file() {
            return Err(ExerciseError::Missing {
                id: id.to_string(),
                path: rubric_path,
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
