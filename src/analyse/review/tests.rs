//! The review analyser on small starters and candidates: where an issue is
//! after edits, which comments name it, and which raise false alarms.

use std::path::Path;

use super::*;

const STARTER: &str = "\
def load(conn, rows, table):
    cur = conn.cursor()
    for row in rows:
        cur.execute(f\"INSERT INTO {table} VALUES ('{row}')\")
    conn.commit()


def other():
    return 1
";

const ISSUES: &str = r#"
[[issue]]
id = "db.sql-injection"
file = "src/db.py"
lines = [4, 4]
anchor = "VALUES ('{row}')"
severity = "critical"
title = "Values formatted into SQL"
terms = ["injection", "parameteri", "bind"]
fix = "Bind the values."

[[issue]]
id = "db.not-idempotent"
file = "src/db.py"
lines = [3, 5]
anchor = "for row in rows:"
severity = "major"
title = "A rerun duplicates the rows"
terms = ["idempoten", "duplicat", "twice"]
fix = "Replace the partition."

[[issue]]
id = "db.no-close"
file = "src/db.py"
lines = [2, 2]
anchor = "cur = conn.cursor()"
severity = "minor"
title = "The cursor is never closed"
terms = ["close", "leak"]
fix = "Close it."
"#;

fn settings() -> ReviewSettings {
    ReviewSettings {
        window: 3,
        min_words: 2,
        max_issues_per_statement: 2,
        problem_words: vec!["bug*".into(), "wrong".into(), "should".into()],
    }
}

fn write(root: &Path, files: &[(&str, &str)]) {
    for (path, text) in files {
        let p = root.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
}

/// The review of `candidate` (the text of `src/db.py`, or `None` for a
/// repository without it) against a starter holding `starter`.
fn review_with(starter: &str, candidate: Option<&str>) -> ReviewFacts {
    review_of(ISSUES, starter, candidate)
}

fn review_of(issues: &str, starter: &str, candidate: Option<&str>) -> ReviewFacts {
    let s = tempfile::tempdir().unwrap();
    let c = tempfile::tempdir().unwrap();
    write(s.path(), &[("src/db.py", starter), ("README.md", "x")]);
    match candidate {
        Some(text) => write(c.path(), &[("src/db.py", text), ("README.md", "x")]),
        None => write(c.path(), &[("README.md", "x")]),
    }
    let pack = ReviewPack::parse(issues, &|f| {
        std::fs::read_to_string(s.path().join(f)).map_err(|e| e.to_string())
    })
    .unwrap();
    let starter_inv = Inventory::build(s.path()).unwrap();
    let mut inv = Inventory::build(c.path()).unwrap();
    inv.compare_with_starter(&starter_inv);
    analyse(
        &inv,
        Some(&starter_inv),
        &Review {
            pack,
            settings: settings(),
        },
    )
}

fn review(candidate: &str) -> ReviewFacts {
    review_with(STARTER, Some(candidate))
}

fn issue<'a>(f: &'a ReviewFacts, id: &str) -> &'a IssueFacts {
    f.issues.iter().find(|i| i.id == id).unwrap()
}

fn named(f: &ReviewFacts, id: &str) -> Vec<u32> {
    issue(f, id)
        .matched_comments
        .iter()
        .map(|c| c.line)
        .collect()
}

#[test]
fn the_anchor_finds_the_issue_after_lines_are_added_above() {
    let cand = format!("import os\nimport sys\n\n# helpers\n\n{STARTER}");
    let f = review(&cand);
    let i = issue(&f, "db.sql-injection");
    assert_eq!(i.located_at, Some(LineSpan { start: 9, end: 9 }));
    assert!(i.anchor_present);
    assert!(i.code.contains("INSERT INTO"), "{}", i.code);
    assert_eq!(
        issue(&f, "db.not-idempotent").located_at,
        Some(LineSpan { start: 8, end: 10 })
    );
}

#[test]
fn rewritten_code_is_followed_through_the_alignment() {
    let cand = STARTER.replace(
        "        cur.execute(f\"INSERT INTO {table} VALUES ('{row}')\")\n",
        "        # the values are bound as parameters, no injection\n        sql = f\"INSERT INTO {table} VALUES (%s)\"\n        cur.execute(sql, (row,))\n",
    );
    let f = review(&cand);
    let i = issue(&f, "db.sql-injection");
    assert!(!i.anchor_present, "the anchor's code is gone");
    assert_eq!(i.located_at, Some(LineSpan { start: 4, end: 6 }));
    assert_eq!(named(&f, "db.sql-injection"), [4]);
}

#[test]
fn an_anchor_quoted_in_a_comment_is_not_the_code() {
    let cand = STARTER.replace(
        "        cur.execute(f\"INSERT INTO {table} VALUES ('{row}')\")\n",
        "        # was: VALUES ('{row}') -- open to injection\n        cur.execute(\"INSERT INTO t VALUES (%s)\", (row,))\n",
    );
    let f = review(&cand);
    assert!(!issue(&f, "db.sql-injection").anchor_present);
    assert_eq!(named(&f, "db.sql-injection"), [4]);
}

#[test]
fn a_near_comment_on_the_topic_names_the_issue() {
    let cand = STARTER.replace(
        "    for row in rows:\n",
        "    # Running this twice for one day duplicates its rows.\n    for row in rows:\n",
    );
    let f = review(&cand);
    assert_eq!(named(&f, "db.not-idempotent"), [3]);
    assert!(named(&f, "db.sql-injection").is_empty(), "another topic");
    assert_eq!(f.comments.len(), 1);
    assert_eq!(f.comments[0].counts_for, ["db.not-idempotent"]);
    assert!(f.false_alarms.is_empty());
}

#[test]
fn a_far_comment_names_nothing_and_raises_no_false_alarm() {
    let cand =
        format!("{STARTER}\n\n# Bug: values go into the SQL unescaped, open to injection.\n");
    let f = review(&cand);
    assert!(named(&f, "db.sql-injection").is_empty());
    assert_eq!(f.comments[0].names_topic_of, ["db.sql-injection"]);
    assert!(
        f.false_alarms.is_empty(),
        "a summary far from the code names an issue: no false alarm"
    );
    assert_eq!(f.missed_critical, ["db.sql-injection"]);
}

#[test]
fn a_keyword_list_or_a_keyword_run_names_nothing() {
    let list = STARTER.replace(
        "    conn.commit()\n",
        "    # injection, bind, duplicates, idempotency\n    conn.commit()\n",
    );
    let f = review(&list);
    assert!(f.found().next().is_none(), "{:?}", f.issues);
    let run = STARTER.replace(
        "    conn.commit()\n",
        "    # injection duplicates close leak bind twice\n    conn.commit()\n",
    );
    let f = review(&run);
    assert!(
        f.found().next().is_none(),
        "three issues at once is a keyword run"
    );
    assert_eq!(f.comments[0].names_topic_of.len(), 3);
    let one_word = STARTER.replace(
        "    conn.commit()\n",
        "    # injection\n    conn.commit()\n",
    );
    assert!(
        review(&one_word).found().next().is_none(),
        "fewer than min_words"
    );
}

#[test]
fn a_comment_the_starter_has_does_not_count() {
    let starter = STARTER.replace(
        "    conn.commit()\n",
        "    conn.commit()\n    # NOTE: a rerun duplicates rows (known, out of scope).\n",
    );
    let unchanged = review_with(&starter, Some(&starter));
    assert!(unchanged.comments.is_empty());
    assert!(!unchanged.files[0].changed);
    // Re-indented or re-cased, it is still the starter's comment.
    let cand = starter.replace(
        "    # NOTE: a rerun duplicates rows (known, out of scope).",
        "    #   note: a rerun duplicates   rows (known, out of scope).",
    );
    let f = review_with(&starter, Some(&cand));
    assert!(f.comments.is_empty(), "{:?}", f.comments);
    // Starter code commented out is not a review comment either.
    let cand = STARTER.replace("    conn.commit()\n", "    # conn.commit()\n");
    assert!(review(&cand).comments.is_empty());
}

#[test]
fn new_docstring_lines_are_review_comments() {
    let cand = STARTER.replace(
        "def load(conn, rows, table):\n",
        "def load(conn, rows, table):\n    \"\"\"Load rows.\n\n    The cursor is never closed: it leaks on every call.\n    \"\"\"\n",
    );
    let f = review(&cand);
    assert_eq!(f.comments.len(), 1, "{:?}", f.comments);
    assert_eq!(f.comments[0].kind, CommentKind::Docstring);
    assert_eq!(f.comments[0].line, 2, "the first new line");
    assert_eq!(named(&f, "db.no-close"), [4]);
}

#[test]
fn a_hash_in_a_string_near_the_issue_is_no_comment() {
    let cand = STARTER.replace(
        "    conn.commit()\n",
        "    log(\"# injection risk: bind the values\")\n    conn.commit()\n",
    );
    let f = review(&cand);
    assert!(f.comments.is_empty());
}

#[test]
fn false_alarms_raise_a_problem_no_issue_is_about() {
    let cand = STARTER.replace(
        "def other():\n",
        "# Bug: this function should have a better name.\ndef other():\n",
    ) + "# TODO: add logging here later.\n";
    let f = review(&cand);
    assert_eq!(f.false_alarms.len(), 1, "{:?}", f.false_alarms);
    assert_eq!(f.false_alarms[0].line, 8);
    assert!(f.false_alarms[0].text.starts_with("Bug: this function"));
    assert!(f
        .comments
        .iter()
        .any(|c| c.text.starts_with("TODO") && !c.false_alarm));
}

#[test]
fn a_missing_file_leaves_its_issues_unlocated() {
    let f = review_with(STARTER, None);
    assert!(!f.files[0].present);
    assert!(f.issues.iter().all(|i| i.located_at.is_none()));
    assert_eq!(f.missed_critical, ["db.sql-injection"]);
}

#[test]
fn the_fixture_pack_and_rubric_load() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/review");
    let pack = ReviewPack::load(&root.join("pack")).unwrap().unwrap();
    assert_eq!(pack.issues.len(), 6);
    assert_eq!(pack.files(), ["src/db.py", "src/store.py"]);
    let rubric = crate::rubric::Rubric::load(&root.join("rubric.toml"), &|id| {
        crate::checks::find(id).is_some()
    })
    .unwrap();
    let review = Review::load(&root.join("pack"), rubric.review.as_ref())
        .unwrap()
        .unwrap();
    assert_eq!(review.settings.window, 6);
}

#[test]
fn only_issues_of_the_comments_file_make_a_keyword_run() {
    // Two more issues in another file share the words of this one's: a
    // sentence on this file's issue is not a run of keywords because of them.
    let issues = format!(
        "{ISSUES}{}",
        r#"
[[issue]]
id = "other.dup-a"
file = "src/other.py"
lines = [1, 1]
anchor = "x = 1"
severity = "minor"
title = "a"
terms = ["duplicat"]
fix = "a"

[[issue]]
id = "other.dup-b"
file = "src/other.py"
lines = [1, 1]
anchor = "x = 1"
severity = "minor"
title = "b"
terms = ["twice"]
fix = "b"
"#
    );
    let s = tempfile::tempdir().unwrap();
    let c = tempfile::tempdir().unwrap();
    let cand = STARTER.replace(
        "    for row in rows:\n",
        "    # Running this twice for one day duplicates its rows.\n    for row in rows:\n",
    );
    write(
        s.path(),
        &[("src/db.py", STARTER), ("src/other.py", "x = 1\n")],
    );
    write(
        c.path(),
        &[("src/db.py", &cand), ("src/other.py", "x = 1\n")],
    );
    let pack = ReviewPack::parse(&issues, &|f| {
        std::fs::read_to_string(s.path().join(f)).map_err(|e| e.to_string())
    })
    .unwrap();
    let settings = ReviewSettings {
        max_issues_per_statement: 1,
        ..settings()
    };
    let starter_inv = Inventory::build(s.path()).unwrap();
    let mut inv = Inventory::build(c.path()).unwrap();
    inv.compare_with_starter(&starter_inv);
    let f = analyse(&inv, Some(&starter_inv), &Review { pack, settings });
    assert_eq!(named(&f, "db.not-idempotent"), [3]);
    assert!(named(&f, "other.dup-a").is_empty(), "another file's issue");
    assert_eq!(f.comments[0].names_topic_of.len(), 3);
}

#[test]
fn a_term_two_near_issues_share_counts_for_the_nearer_one_only() {
    let issues = ISSUES
        .replace(
            r#"terms = ["idempoten", "duplicat", "twice"]"#,
            r#"terms = ["idempoten", "duplicat", "twice", "overwrit"]"#,
        )
        .replace(
            r#"terms = ["close", "leak"]"#,
            r#"terms = ["close", "leak", "overwrit"]"#,
        );
    // line 2, right above the cursor (now line 3); the loop is lines 4-6
    let shared = STARTER.replace(
        "    cur = conn.cursor()\n",
        "    # Each call overwrites the previous cursor.\n    cur = conn.cursor()\n",
    );
    let f = review_of(&issues, STARTER, Some(&shared));
    assert_eq!(
        f.comments[0].counts_for,
        ["db.no-close"],
        "{:#?}",
        f.comments
    );
    assert!(named(&f, "db.not-idempotent").is_empty());

    // a statement naming each problem by its own words counts for both
    let both = STARTER.replace(
        "    cur = conn.cursor()\n",
        "    # The cursor is never closed and a rerun duplicates every row.\n    cur = conn.cursor()\n",
    );
    let f = review_of(&issues, STARTER, Some(&both));
    assert_eq!(
        f.comments[0].counts_for,
        ["db.not-idempotent", "db.no-close"],
        "{:#?}",
        f.comments
    );
}
