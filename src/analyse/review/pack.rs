//! The pack's planted review issues (`review.toml`) and the rubric's
//! `[review]` settings. Loading validates both against the starter, so a
//! mistake in the pack is an error when the grade starts, never a silently
//! unmatched issue.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::lexer;

pub const FILE_NAME: &str = "review.toml";
/// Issues a pack may plant; more is a data error, not a review.
const MAX_ISSUES: usize = 200;
/// A reviewed file of the starter larger than this is not a review exercise.
const MAX_STARTER_BYTES: u64 = 512 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Critical,
    Major,
    Minor,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Major => "major",
            Severity::Minor => "minor",
        }
    }
}

/// One planted issue, as `review.toml` states it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssueDef {
    /// `<module>.<slug>`, e.g. `snowflake.sql-injection`.
    pub id: String,
    /// The reviewed file, relative to the repository root.
    pub file: String,
    /// Inclusive 1-based lines of the issue in the STARTER's file.
    pub lines: [u32; 2],
    /// A literal substring of those starter lines, to find the spot after the
    /// candidate edits the file (searched with its outer whitespace trimmed).
    pub anchor: String,
    pub severity: Severity,
    pub title: String,
    /// Stems and phrases a comment naming the problem uses: each term's last
    /// word matches any word it begins (`parameteri` matches
    /// "parameterized"); earlier words of a phrase match whole.
    pub terms: Vec<String>,
    /// How to fix it, in the report's words.
    pub fix: String,
    /// Hidden tests that prove the fix (empty: review only).
    #[serde(default)]
    pub verified_by: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPack {
    #[serde(default)]
    version: Option<u32>,
    #[serde(default)]
    issue: Vec<IssueDef>,
}

/// The planted issues of a pack, validated against its starter.
#[derive(Debug, Clone, PartialEq)]
pub struct ReviewPack {
    pub issues: Vec<IssueDef>,
}

/// A term as a lexicon pattern: its words as the lexicon reads a text
/// (punctuation such as `(*)` or `=` drops out), the last one a stem.
fn stem_pattern(term: &str) -> Option<String> {
    let words = crate::analyse::docs::words(term);
    (!words.is_empty()).then(|| format!("{}*", words.join(" ")))
}

/// The words that name an issue's topic (`terms`: stems and phrases).
pub fn topic(terms: &[String]) -> crate::analyse::docs::Lexicon {
    let patterns: Vec<String> = terms.iter().filter_map(|t| stem_pattern(t)).collect();
    crate::analyse::docs::Lexicon::new(&patterns)
}

/// The rubric's `[review]` section: how near and how specific a comment must
/// be to name a planted issue. Thresholds live in the rubric, never here.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewSettings {
    /// Lines either side of an issue's span within which a comment is near it.
    pub window: u32,
    /// Words a comment's statement needs to name a problem ("SQL injection
    /// risk" is three).
    pub min_words: usize,
    /// A statement naming the topics of more issues than this is a run of
    /// keywords and names none of them.
    pub max_issues_per_statement: usize,
    /// Words that raise a problem ("bug", "wrong", "should"): a new comment
    /// holding one that names no planted issue is a false alarm. Lexicon
    /// patterns (`vulnerab*`).
    pub problem_words: Vec<String>,
}

impl ReviewSettings {
    /// Why the settings cannot be used, if they cannot.
    pub fn problem(&self) -> Option<String> {
        if self.window > 200 {
            return Some("review.window must lie within 0..200 lines".into());
        }
        if self.min_words == 0 {
            return Some("review.min_words must be at least 1".into());
        }
        if self.max_issues_per_statement == 0 {
            return Some("review.max_issues_per_statement must be at least 1".into());
        }
        if self.problem_words.iter().all(|w| w.trim().is_empty()) {
            return Some("review.problem_words needs at least one word".into());
        }
        None
    }
}

/// Everything the review analyser needs: the pack's issues and the rubric's
/// settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Review {
    pub pack: ReviewPack,
    pub settings: ReviewSettings,
}

#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ReviewPackError {
    pub path: String,
    pub message: String,
}

impl ReviewPack {
    /// The pack's `review.toml`, checked against `<pack>/starter/`; `None`
    /// when the pack plants no review issues.
    pub fn load(pack_dir: &Path) -> Result<Option<ReviewPack>, ReviewPackError> {
        let path = pack_dir.join(FILE_NAME);
        if !path.is_file() {
            return Ok(None);
        }
        let err = |message: String| ReviewPackError {
            path: path.display().to_string(),
            message,
        };
        let text = std::fs::read_to_string(&path).map_err(|e| err(e.to_string()))?;
        let starter = pack_dir.join("starter");
        let read_starter = |file: &str| -> Result<String, String> {
            let p = starter.join(file);
            let size = std::fs::metadata(&p)
                .map_err(|_| format!("the starter has no file `{file}`"))?
                .len();
            if size > MAX_STARTER_BYTES {
                return Err(format!(
                    "the starter's `{file}` is {size} bytes, more than {MAX_STARTER_BYTES}"
                ));
            }
            std::fs::read_to_string(&p).map_err(|e| format!("`{file}` of the starter: {e}"))
        };
        ReviewPack::parse(&text, &read_starter)
            .map(Some)
            .map_err(err)
    }

    /// Parses and validates `review.toml`; `starter` reads a file of the
    /// starter repository.
    pub fn parse(
        text: &str,
        starter: &dyn Fn(&str) -> Result<String, String>,
    ) -> Result<ReviewPack, String> {
        let raw: RawPack = toml::from_str(text).map_err(|e| e.to_string())?;
        if let Some(v) = raw.version {
            if v != 1 {
                return Err(format!(
                    "unsupported version {v}; this assay reads version 1"
                ));
            }
        }
        if raw.issue.is_empty() {
            return Err("no [[issue]]: a review pack plants at least one issue".into());
        }
        if raw.issue.len() > MAX_ISSUES {
            return Err(format!(
                "{} issues, more than {MAX_ISSUES}",
                raw.issue.len()
            ));
        }
        let mut seen = std::collections::BTreeSet::new();
        for issue in &raw.issue {
            let id = &issue.id;
            let fail = |m: String| format!("issue `{id}`: {m}");
            if id.trim().is_empty() {
                return Err("an issue has an empty id".into());
            }
            if !seen.insert(id.as_str()) {
                return Err(format!("issue `{id}` appears twice"));
            }
            if issue.file.is_empty()
                || issue.file.starts_with('/')
                || issue.file.split('/').any(|p| p == ".." || p.is_empty())
            {
                return Err(fail(format!(
                    "`file` must be a path inside the repository, not `{}`",
                    issue.file
                )));
            }
            if issue.terms.is_empty() {
                return Err(fail(
                    "`terms` is empty: nothing would name the issue".into(),
                ));
            }
            if let Some(t) = issue.terms.iter().find(|t| stem_pattern(t).is_none()) {
                return Err(fail(format!("the term `{t}` holds no word")));
            }
            if issue.title.trim().is_empty() || issue.fix.trim().is_empty() {
                return Err(fail("`title` and `fix` must say something".into()));
            }
            let [start, end] = issue.lines;
            if start == 0 || end < start {
                return Err(fail(format!(
                    "`lines` must be [first, last] with 1 <= first <= last, not [{start}, {end}]"
                )));
            }
            let anchor = issue.anchor.trim();
            if anchor.is_empty() {
                return Err(fail("`anchor` is empty".into()));
            }
            let text = starter(&issue.file).map_err(fail)?;
            let lines = text.lines().count() as u32;
            if end > lines {
                return Err(fail(format!(
                    "`lines` end at {end}, but the starter's `{}` has {lines} lines",
                    issue.file
                )));
            }
            let found = lexer::find_all(&text, anchor)
                .into_iter()
                .any(|line| (start..=end).contains(&line));
            if !found {
                return Err(fail(format!(
                    "the anchor `{anchor}` is not on lines {start}-{end} of the starter's `{}`",
                    issue.file
                )));
            }
        }
        Ok(ReviewPack { issues: raw.issue })
    }

    /// The reviewed files, in the order the pack first names them.
    pub fn files(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for i in &self.issues {
            if !out.contains(&i.file.as_str()) {
                out.push(&i.file);
            }
        }
        out
    }
}

impl Review {
    /// The pack's review issues with the rubric's settings; `None` when the
    /// pack plants none. A pack with issues needs the rubric's `[review]`.
    pub fn load(
        pack_dir: &Path,
        settings: Option<&ReviewSettings>,
    ) -> Result<Option<Review>, ReviewPackError> {
        let Some(pack) = ReviewPack::load(pack_dir)? else {
            return Ok(None);
        };
        let Some(settings) = settings else {
            return Err(ReviewPackError {
                path: pack_dir.join(FILE_NAME).display().to_string(),
                message: "the pack plants review issues, but the rubric has no [review] section \
                          (window, min_words, max_issues_per_statement, problem_words)"
                    .into(),
            });
        };
        Ok(Some(Review {
            pack,
            settings: settings.clone(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STARTER: &str = "import x\n\ndef load(conn, rows):\n    sql = f\"INSERT INTO t VALUES ('{rows}')\"\n    conn.execute(sql)\n";

    fn parse(toml: &str) -> Result<ReviewPack, String> {
        ReviewPack::parse(toml, &|f| {
            if f == "src/db.py" {
                Ok(STARTER.to_string())
            } else {
                Err(format!("the starter has no file `{f}`"))
            }
        })
    }

    fn issue(extra: &str) -> String {
        let mut fields = vec![
            ("id", "\"db.sql-injection\""),
            ("file", "\"src/db.py\""),
            ("lines", "[4, 5]"),
            ("anchor", "\"f\\\"INSERT INTO t\""),
            ("severity", "\"critical\""),
            ("title", "\"Values formatted into SQL\""),
            ("terms", "[\"injection\", \"parameteri\"]"),
            ("fix", "\"Bind the values.\""),
        ];
        let mut out = String::from("[[issue]]\n");
        for line in extra.lines() {
            let (k, v) = line.split_once(" = ").unwrap();
            fields.retain(|(f, _)| *f != k);
            out.push_str(&format!("{k} = {v}\n"));
        }
        for (k, v) in fields {
            out.push_str(&format!("{k} = {v}\n"));
        }
        out
    }

    #[test]
    fn a_valid_issue_loads() {
        let p = parse(&issue("")).unwrap();
        assert_eq!(p.issues[0].severity, Severity::Critical);
        assert_eq!(p.files(), ["src/db.py"]);
    }

    #[test]
    fn mistakes_are_named() {
        let e = parse(&issue("severity = \"blocker\"")).unwrap_err();
        assert!(e.contains("unknown variant `blocker`"), "{e}");
        assert!(e.contains("critical"), "{e}");
        let e = parse(&issue("terms = []")).unwrap_err();
        assert!(e.contains("`terms` is empty"), "{e}");
        let e = parse(&issue("terms = [\" - \"]")).unwrap_err();
        assert!(e.contains("holds no word"), "{e}");
        let e = parse(&issue("lines = [1, 2]")).unwrap_err();
        assert!(e.contains("is not on lines 1-2"), "{e}");
        let e = parse(&issue("lines = [4, 40]")).unwrap_err();
        assert!(e.contains("has 5 lines"), "{e}");
        let e = parse(&issue("file = \"src/other.py\"")).unwrap_err();
        assert!(e.contains("no file `src/other.py`"), "{e}");
        let e = parse(&issue("file = \"../etc/passwd\"")).unwrap_err();
        assert!(e.contains("inside the repository"), "{e}");
        let e = parse(&format!("{}{}", issue(""), issue(""))).unwrap_err();
        assert!(e.contains("appears twice"), "{e}");
        let e = parse(&issue("colour = \"red\"")).unwrap_err();
        assert!(e.contains("unknown field"), "{e}");
        assert!(parse("version = 1\n").unwrap_err().contains("no [[issue]]"));
    }

    #[test]
    fn terms_are_stems_and_phrases() {
        let t = topic(&[
            "parameteri".to_string(),
            "hard coded".into(),
            "count(*)".into(),
            "read()".into(),
        ]);
        assert!(t.hits("Use parameterized queries"));
        assert!(t.hits("the password is hard coded here"));
        assert!(t.hits("use COUNT(*) instead"));
        assert!(t.hits("f.read() loads everything"));
        assert!(
            !t.hits("a parameter list"),
            "a stem matches words it begins, not shorter ones"
        );
        assert!(!t.hits("coded by hand"));
    }

    /// The aviationstack-screening pack's issues hold against its starter.
    #[test]
    fn the_aviationstack_review_loads() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/aviationstack-screening");
        let pack = ReviewPack::load(&dir)
            .unwrap()
            .expect("the pack plants review issues");
        assert!(pack.issues.iter().any(|i| i.severity == Severity::Critical));
        assert_eq!(pack.files(), ["src/snowflake.py", "src/gcs.py"]);
    }

    #[test]
    fn a_pack_without_review_toml_has_no_review() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(ReviewPack::load(dir.path()).unwrap(), None);
        assert_eq!(Review::load(dir.path(), None).unwrap(), None);
    }

    #[test]
    fn a_pack_with_issues_needs_the_rubrics_settings() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("starter/src")).unwrap();
        std::fs::write(dir.path().join("starter/src/db.py"), STARTER).unwrap();
        std::fs::write(dir.path().join(FILE_NAME), issue("")).unwrap();
        let e = Review::load(dir.path(), None).unwrap_err();
        assert!(e.to_string().contains("no [review] section"), "{e}");
        assert!(e.to_string().contains("review.toml"), "{e}");
    }
}
