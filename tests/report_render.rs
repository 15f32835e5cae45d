//! The report as an interviewer reads it: HTML and Markdown snapshots of a fixed
//! report, hostile strings rendered as text in a real browser, and interviewer
//! overrides shown beside the automatic band.

mod common;

use std::path::Path;
use std::process::Command;

use assay::report::{html, junit, markdown, overrides, Report};
use serde_json::json;

const SCRIPT: &str = "<script>document.title='PWNED'</script>";
const IMG: &str = "<img src=x onerror=\"document.body.setAttribute('data-pwned','1')\">";
const JS_URL: &str = "javascript:document.title='PWNED'";

/// A graded report whose every candidate-controlled string is `payload`-laden.
fn fixture(payload: &str) -> Report {
    let value = json!({
        "schema_version": "1.1.0",
        "grader": { "name": "assay", "version": "0.1.0" },
        "exercise": "marketplace-elt",
        "rubric": { "path": "rubric/marketplace-elt.toml", "sha256": "ab".repeat(32) },
        "submission": {
            "name": format!("cand{payload}"),
            "source": JS_URL,
            "kind": "git_repository",
            "commit": "0123456789abcdef0123456789abcdef01234567"
        },
        "graded_at": "2026-07-01T12:00:00Z",
        "status": "graded",
        "stages": [{ "stage": "execute", "status": "skipped", "detail": "skipped on request (--no-exec)" }],
        "dimensions": [
            {
                "id": "data_quality", "name": "Data Quality", "weight": 0.3,
                "score": 45.0, "band": 2, "band_label": "approaching the bar",
                "descriptor": "Some data problems are handled.", "incomplete": false,
                "criteria": [{
                    "check": "dbt.contract_models", "title": "Contract models exist",
                    "points": 10.0, "weighted_points": 10.0, "earned": 5.0,
                    "outcome": { "kind": "partial", "fraction": 0.5 }, "confidence": "static",
                    "summary": format!("model stg_{payload} is not a contract model"),
                    "evidence": [{
                        "file": format!("models/{payload}.sql"),
                        "lines": { "start": 3, "end": 5 },
                        "snippet": format!("select\n    id, -- {payload}\n\tfrom {{{{ ref('{JS_URL}') }}}}"),
                        "measured": { "model": payload },
                        "expected": 9,
                        "note": format!("model name {payload}")
                    }]
                }]
            },
            {
                "id": "problem_solving", "name": "Problem-Solving", "weight": 0.15,
                "score": 30.0, "band": 1, "band_label": "below the bar",
                "descriptor": "No sign of exploring the data.", "incomplete": false,
                "criteria": [{
                    "check": "history.commit_cadence", "title": "Work committed in steps",
                    "points": 4.0, "weighted_points": 2.0, "earned": 0.0,
                    "outcome": { "kind": "fail" }, "confidence": "heuristic",
                    "summary": "1 commit after the starter",
                    "evidence": [{ "note": format!("0123abcd {payload}") }]
                }, {
                    "check": "history.exploration_first", "title": "Data explored first",
                    "points": 5.0, "weighted_points": 5.0,
                    "outcome": { "kind": "not_applicable" }, "confidence": "static",
                    "summary": "no usable commit history", "evidence": []
                }]
            }
        ],
        "overall": { "score": 40.7, "band": 2, "band_label": "approaching the bar" },
        "checks": [],
        "followups": [{
            "question": "What happens at 3 AM when the Airbyte sync fails?",
            "check": "history.commit_cadence",
            "because": format!("commit {payload}")
        }],
        "traps": [{
            "id": "T1", "title": "Duplicate payment events",
            "found": "yes", "handled": "partly", "tested": "unknown",
            "checks": ["docs.trap_writeups"]
        }],
        "execution": {
            "phases": [{ "phase": 1, "name": "initial", "status": "completed",
                         "nodes": { "total": 10, "passed": 9, "failed": 1, "errored": 0, "warned": 0, "skipped": 0 },
                         "problems": [format!("run_results.json was a symbolic link {payload}")] }],
            "hidden_checks": [{ "check": "hidden.gmv_total", "title": "GMV in USD", "phase": 1, "trap": "T6",
                                "outcome": { "kind": "fail" }, "measured": payload, "expected": 1234.5 }],
            "candidate_tests": { "total": 5, "passed": 4, "failed": 1, "errored": 0, "warned": 0, "skipped": 0 },
            "dbt_log_tail": [format!("Completed with 1 error {payload}")]
        },
        "strengths": [format!("Tests arrive with models: {payload}")],
        "gaps": [format!("Contract models exist (partly): {payload}")],
        "notices": ["Problem-Solving: 1 criterion(s) did not apply and left the denominator."]
    });
    serde_json::from_value(value).expect("the fixture is a report")
}

#[test]
fn html_snapshot() {
    insta::assert_snapshot!(
        "report_html",
        html::render(&fixture("<b>bold</b>")).unwrap()
    );
}

#[test]
fn markdown_snapshot() {
    insta::assert_snapshot!(
        "report_markdown",
        markdown::render(&fixture("<b>*x*</b> | [l](javascript:x)"))
    );
}

#[test]
fn junit_is_one_testcase_per_criterion_and_escaped() {
    let xml = junit::render(&fixture(SCRIPT));
    assert_eq!(xml.matches("<testcase ").count(), 3);
    assert!(xml.contains("<failure type=\"partial\""));
    assert!(xml.contains("<skipped "));
    assert!(!xml.contains("<script"));
    assert!(xml.contains("&lt;script&gt;"));
}

#[test]
fn markdown_neutralises_html_and_links() {
    let md = markdown::render(&fixture(&format!("{SCRIPT}[click]({JS_URL})")));
    assert!(!md.contains("<script"), "{md}");
    assert!(!md.contains("](javascript"), "{md}");
}

#[test]
fn html_escapes_every_candidate_string_and_links_only_safe_urls() {
    let page = html::render(&fixture(&format!("{SCRIPT}{IMG}"))).unwrap();
    assert!(page.contains("script-src 'none'"));
    assert_eq!(page.matches("<script").count(), 0);
    assert_eq!(page.matches("<img").count(), 0);
    assert!(
        !page.contains("href=\"javascript"),
        "javascript: became a link"
    );
    assert!(page.contains("&lt;script&gt;document.title&#x3D;&#x27;PWNED&#x27;&lt;/script&gt;"));
    // Snippets keep their indentation and tabs, numbered from the evidence's line.
    assert!(page.contains("<span class=\"n\">4</span><span class=\"t\">    id, -- "));
    assert!(page.contains("<span class=\"n\">5</span><span class=\"t\">\tfrom "));
}

/// `chromium` from Debian's package (.ci/run installs it). Without it the browser
/// test fails: a skipped browser test would prove nothing about the page.
fn chromium() -> Option<&'static str> {
    ["chromium", "chromium-browser"].into_iter().find(|c| {
        Command::new(c)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

fn dump_dom(browser: &str, page: &Path) -> String {
    let out = Command::new(browser)
        .args([
            "--headless",
            "--disable-gpu",
            "--no-sandbox",
            "--no-first-run",
            "--virtual-time-budget=2000",
            "--dump-dom",
        ])
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_browser_shows_payloads_as_text_and_runs_nothing() {
    let browser = chromium()
        .expect("the browser test needs chromium: apt-get install chromium fonts-dejavu-core");
    let dir = tempfile::tempdir().unwrap();
    let page = html::render(&fixture(&format!("{SCRIPT}{IMG}"))).unwrap();
    // The page must be safe through escaping alone: try it with the CSP removed too.
    let without_csp: String = page
        .lines()
        .filter(|l| !l.contains("Content-Security-Policy"))
        .collect::<Vec<_>>()
        .join("\n");
    for (name, html) in [
        ("with-csp.html", page.clone()),
        ("without-csp.html", without_csp),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, html).unwrap();
        let dom = dump_dom(browser, &path);
        assert!(
            dom.contains("<title>assay · cand"),
            "{name}: the title changed"
        );
        assert!(!dom.contains("PWNED</title>"), "{name}: a script ran");
        assert!(
            !dom.contains("data-pwned=\"1\""),
            "{name}: an event handler ran"
        );
        assert!(!dom.contains("<script"), "{name}: a script element exists");
        assert!(!dom.contains("<img"), "{name}: an img element exists");
        assert!(
            !dom.contains("href=\"javascript"),
            "{name}: a javascript: link exists"
        );
        // The payloads are there, as text.
        assert!(
            dom.contains("&lt;script&gt;document.title='PWNED'&lt;/script&gt;"),
            "{name}"
        );
        assert!(
            dom.contains(
                "&lt;img src=x onerror=\"document.body.setAttribute('data-pwned','1')\"&gt;"
            ),
            "{name}"
        );
        assert!(
            dom.contains(&format!("source: <span>{JS_URL}</span>")),
            "{name}"
        );
    }
}

#[test]
fn an_override_changes_the_displayed_band_with_its_reason() {
    let mut report = fixture("x");
    let inputs = overrides::parse(
        "[[override]]\ndimension = \"Problem-Solving\"\nband = 3\nreason = \"Walked through profiling <queries> convincingly\"\nwho = \"R. Interviewer\"\n",
    )
    .unwrap();
    let labels: Vec<String> = ["below", "approaching", "meets the senior bar", "exceeds"]
        .map(String::from)
        .to_vec();
    overrides::apply(&mut report, &inputs, &labels).unwrap();
    let o = &report.overrides[0];
    assert_eq!(
        (o.dimension.as_str(), o.band, o.automatic_band),
        ("problem_solving", 3, Some(1))
    );
    // The automatic band is untouched.
    assert_eq!(report.dimensions[1].band, Some(1));
    let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
    common::assert_valid(&json);
    assert_eq!(
        json["overrides"][0]["reason"],
        "Walked through profiling <queries> convincingly"
    );
    let page = html::render(&report).unwrap();
    assert!(page.contains("interviewer: <span class=\"band b3\">3</span> meets the senior bar"));
    assert!(page.contains("Walked through profiling &lt;queries&gt; convincingly"));
    assert!(page.contains("automatic: band 1 (30.0)"));
    let md = markdown::render(&report);
    assert!(md.contains("| Problem-Solving | 30.0 | 1 · below the bar | **3** · Walked through profiling &lt;queries&gt; convincingly"), "{md}");

    let bad = overrides::parse(
        "[[override]]\ndimension = \"nope\"\nband = 3\nreason = \"r\"\nwho = \"w\"\n",
    )
    .unwrap();
    assert!(overrides::apply(&mut report, &bad, &labels).is_err());
    let no_reason = overrides::parse(
        "[[override]]\ndimension = \"data_quality\"\nband = 3\nreason = \" \"\nwho = \"w\"\n",
    )
    .unwrap();
    assert!(overrides::apply(&mut report, &no_reason, &labels).is_err());
    let out_of_range = overrides::parse(
        "[[override]]\ndimension = \"data_quality\"\nband = 5\nreason = \"r\"\nwho = \"w\"\n",
    )
    .unwrap();
    assert!(overrides::apply(&mut report, &out_of_range, &labels).is_err());
}

#[test]
fn grade_writes_every_format_and_keeps_overrides_in_report_json() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("cand");
    common::write_tree(&sub, &common::small_project());
    let over = dir.path().join("over.toml");
    std::fs::write(
        &over,
        "[[override]]\ndimension = \"system_design\"\nband = 3\nreason = \"Strong design discussion\"\nwho = \"A. B.\"\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    common::assay()
        .args([
            "grade",
            sub.to_str().unwrap(),
            "--no-exec",
            "--format",
            "json,html,markdown,junit",
            "--out",
        ])
        .arg(&out)
        .arg("--overrides")
        .arg(&over)
        .assert()
        .success();
    let report = common::read_report(&out, "cand");
    let folder = common::report_dir(&out, "cand");
    assert_eq!(report["overrides"][0]["dimension"], "system_design");
    assert_eq!(report["overrides"][0]["band"], 3);
    for f in ["report.html", "report.md", "report.junit.xml"] {
        assert!(folder.join(f).is_file(), "{f} missing");
    }
    let html = std::fs::read_to_string(folder.join("report.html")).unwrap();
    assert!(html.contains("Strong design discussion"));
    // The folder has no history: the report says the history criteria did not apply.
    assert!(html.contains("no usable commit history"));

    // A broken overrides file is refused before grading.
    std::fs::write(&over, "[[override]]\ndimension = \"system_design\"\n").unwrap();
    common::assay()
        .args(["grade", sub.to_str().unwrap(), "--no-exec", "--out"])
        .arg(&out)
        .arg("--overrides")
        .arg(&over)
        .assert()
        .code(2);
}
