//! The mutation suite: each patch in `tests/mutants/` plants one trap or
//! phase fault in a copy of the strong reference solution; graded with
//! execution, the dimension it concerns must drop at least one band from the
//! strong solution's band 4, and the report must say why (the failing hidden
//! check, the contradiction, the ceiling). The patches in `tests/variants/`
//! are the opposite: correct ways to write the pipeline that the hidden checks
//! must accept (T2 capped at `current_timestamp`, which holds only because the
//! sandbox's clock reads the sync time; money rounded per event in DOUBLE;
//! reconciliation over every order; a text cohort month; an audit column that
//! changes on every build; TIMESTAMPTZ instants). All variants go into one
//! copy, graded once. The keyword-stuffer reference solution is graded beside
//! them, and the strong one too, so the debrief of four kinds of submission
//! (a trap mutant, a broken build, a keyword-stuffer, a strong solution) is
//! checked: the execution verdict names what broke, contradictions and
//! failing executed checks each prompt a question, and insta snapshots
//! (`tests/snapshots/mutants__debrief_*.snap`) hold each verdict,
//! contradiction and question as the interviewer reads them. Needs a
//! running Docker engine. The grades run two at a time, the most two cores
//! sensibly hold.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{assay, assert_valid, copy_tree, repo_root};
use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Mutants {
    mutant: Vec<Mutant>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Mutant {
    name: String,
    what: String,
    drops: Vec<String>,
    fails: Vec<String>,
    phase: u64,
    #[serde(default)]
    first_in_phase: bool,
    #[serde(default)]
    contradiction: Option<String>,
    #[serde(default)]
    ceiling: Option<String>,
    #[serde(default)]
    overall_at_most: Option<u64>,
    #[serde(default)]
    only_traps: Option<Vec<String>>,
}

fn mutants_dir() -> PathBuf {
    repo_root().join("tests/mutants")
}

/// A copy of the strong solution with the mutant's patch applied; the patch
/// must apply cleanly, or the suite no longer tests what it says.
fn mutate(m: &Mutant, into: &Path) -> PathBuf {
    let root = into.join(&m.name);
    copy_tree(
        &repo_root().join("reference-solutions/marketplace-elt/strong"),
        &root,
    );
    apply(&root, &mutants_dir().join(format!("{}.patch", m.name)));
    root
}

fn apply(root: &Path, patch: &Path) {
    let out = Command::new("patch")
        .args(["-p1", "--forward", "--batch", "-i"])
        .arg(patch)
        .current_dir(root)
        .output()
        .expect("`patch` runs");
    assert!(
        out.status.success(),
        "{} does not apply to the strong solution: {}{}",
        patch.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// One copy of the strong solution with every correct variant applied.
fn with_variants(into: &Path) -> (PathBuf, Vec<String>) {
    let root = into.join("correct-variants");
    copy_tree(
        &repo_root().join("reference-solutions/marketplace-elt/strong"),
        &root,
    );
    let mut names = Vec::new();
    let mut patches: Vec<PathBuf> = fs::read_dir(repo_root().join("tests/variants"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "patch"))
        .collect();
    patches.sort();
    for p in &patches {
        apply(&root, p);
        names.push(p.file_stem().unwrap().to_string_lossy().into_owned());
    }
    assert!(names.len() >= 5, "{names:?}");
    (root, names)
}

fn grade(source: &Path, out: &Path) -> Value {
    let run = assay()
        .args(["grade", source.to_str().unwrap(), "--out"])
        .arg(out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        matches!(run.status.code(), Some(0) | Some(1)),
        "grading {} failed: {stderr}",
        source.display()
    );
    let name = source.file_name().unwrap().to_str().unwrap();
    let report_path = common::report_dir(out, name).join("report.json");
    let report: Value = serde_json::from_str(&fs::read_to_string(report_path).unwrap()).unwrap();
    assert_valid(&report);
    let exec = report["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stage"] == "execute")
        .expect("an execute stage record");
    assert_eq!(
        exec["status"], "ok",
        "execution did not run: {exec}\n{stderr}"
    );
    report
}

fn band(report: &Value, dim: &str) -> u64 {
    report["dimensions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == dim)
        .and_then(|d| d["band"].as_u64())
        .unwrap_or_else(|| panic!("no band for {dim}"))
}

fn hidden_outcome(report: &Value, check: &str, phase: u64) -> Option<String> {
    report["execution"]["hidden_checks"]
        .as_array()?
        .iter()
        .find(|h| h["check"] == check && h["phase"] == phase)
        .and_then(|h| h["outcome"]["kind"].as_str())
        .map(str::to_string)
}

/// Everything the mutant's report must show, as failures to list.
fn judge(m: &Mutant, report: &Value) -> Vec<String> {
    let mut wrong = Vec::new();
    for dim in &m.drops {
        let b = band(report, dim);
        if b > 3 {
            wrong.push(format!("{dim} stays at band {b}"));
        }
    }
    for check in &m.fails {
        match hidden_outcome(report, check, m.phase).as_deref() {
            Some("fail") => {}
            other => wrong.push(format!(
                "{check} in phase {} is {other:?}, not fail",
                m.phase
            )),
        }
        if m.first_in_phase {
            for earlier in 1..m.phase {
                if hidden_outcome(report, check, earlier).as_deref() != Some("pass") {
                    wrong.push(format!("{check} should pass in phase {earlier}"));
                }
            }
        }
    }
    if let Some(trap) = &m.contradiction {
        let found = report["contradictions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["trap"] == trap.as_str() && !c["refuted_by"].as_array().unwrap().is_empty());
        if !found {
            wrong.push(format!(
                "no contradiction for {trap}: {}",
                report["contradictions"]
            ));
        }
    }
    if let Some(allowed) = &m.only_traps {
        for c in report["contradictions"].as_array().unwrap() {
            // A claim about no trap in particular ("all traps handled")
            // blames none.
            let Some(trap) = c["trap"].as_str() else {
                continue;
            };
            if !allowed.iter().any(|t| t == trap) {
                wrong.push(format!("a contradiction blames {trap}: {}", c["claim"]));
            }
        }
    }
    // The gate's check must have closed it (the report names the ceiling
    // whenever it lowered a score; a score already below needs none).
    if let Some(check) = &m.ceiling {
        let gate = report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["check"] == check.as_str())
            .map(|c| c["outcome"]["kind"].as_str().unwrap_or("").to_string());
        if !matches!(gate.as_deref(), Some("fail" | "partial")) {
            wrong.push(format!("{check} is {gate:?}: its gate stays open"));
        }
    }
    if let Some(max) = m.overall_at_most {
        let b = report["overall"]["band"].as_u64().unwrap_or(0);
        if b > max {
            wrong.push(format!("overall band {b} above {max}"));
        }
    }
    wrong
}

/// Reference solutions graded beside the mutants for their debrief snapshot.
const DEBRIEFED_REFERENCES: [&str; 2] = ["keyword-stuffer", "strong"];
/// Mutants whose debrief is held by a snapshot: a trap the code claims to
/// handle, and a build that fails.
const DEBRIEFED_MUTANTS: [&str; 2] = ["t3_wrong_direction", "mart_does_not_compile"];

/// What an interviewer reads first: the execution verdict, the
/// contradictions and the questions, without timings.
fn debrief(report: &Value) -> Value {
    let v = &report["verdict"];
    let phases: Vec<Value> = v["phases"]
        .as_array()
        .map(|ps| {
            ps.iter()
                .map(|p| {
                    serde_json::json!({
                        "phase": p["phase"],
                        "status": p["status"],
                        "reasons": p["reasons"],
                        "errored": p["errored"],
                        "failed_tests": p["failed_tests"],
                        "hidden": format!("{} of {} disagree", p["hidden_failing"], p["hidden_run"]),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let contradictions: Vec<Value> = report["contradictions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let at: Vec<String> = c["claimed_by"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| {
                    format!(
                        "{}:{}",
                        e["file"].as_str().unwrap_or("?"),
                        e["lines"]["start"]
                    )
                })
                .collect();
            let measured: Vec<&str> = c["refuted_by"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|e| e["note"].as_str())
                .collect();
            serde_json::json!({
                "source": c["source"],
                "trap": c["trap"],
                "claim": c["claim"],
                "claimed_at": at,
                "measured": measured,
            })
        })
        .collect();
    let questions: Vec<String> = report["followups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            format!(
                "[{}] {}",
                f["ground"].as_str().unwrap_or(""),
                f["question"].as_str().unwrap_or("")
            )
        })
        .collect();
    serde_json::json!({
        "headline": v["headline"],
        "phases": phases,
        "failing": v["failing"],
        "contradictions": contradictions,
        "questions": questions,
    })
}

/// What the first screen must carry for each debriefed submission: a
/// verdict that names what broke, and a question for each kind of failure.
fn debrief_problems(name: &str, report: &Value) -> Vec<String> {
    let mut wrong = Vec::new();
    let v = &report["verdict"];
    if v["executed"] != true || v["headline"].as_str().is_none_or(str::is_empty) {
        wrong.push(format!("{name}: no execution verdict: {v}"));
    }
    let questions = report["followups"].as_array().unwrap();
    let asked = |ground: &str| questions.iter().any(|q| q["ground"] == ground);
    if !report["contradictions"].as_array().unwrap().is_empty() && !asked("contradiction") {
        wrong.push(format!("{name}: a contradiction but no question about it"));
    }
    if v["hidden_failing"].as_u64().unwrap_or(0) > 0
        && !asked("executed")
        && !asked("contradiction")
    {
        wrong.push(format!(
            "{name}: hidden checks fail but no question asks about them"
        ));
    }
    match name {
        "mart_does_not_compile" => {
            let phases = v["phases"].as_array().unwrap();
            let named = phases.iter().all(|p| {
                p["passed"] == false
                    && p["errored"].as_array().is_some_and(|e| {
                        e.iter()
                            .any(|n| n["message"].as_str().is_some_and(|m| !m.is_empty()))
                    })
            });
            if !named {
                wrong.push(format!(
                    "{name}: the verdict does not name the model that errored: {v}"
                ));
            }
            if !questions
                .iter()
                .any(|q| q["check"] == "exec.builds_cleanly")
            {
                wrong.push(format!("{name}: no question about the broken build"));
            }
        }
        "keyword-stuffer" => {
            let from_write_up = report["contradictions"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["source"] == "write_up");
            if !from_write_up {
                wrong.push(format!(
                    "{name}: its README's claims are not shown as contradictions"
                ));
            }
        }
        "strong"
            if !report["contradictions"].as_array().unwrap().is_empty()
                || v["hidden_failing"].as_u64() != Some(0) =>
        {
            wrong.push(format!(
                "{name}: the strong solution's debrief finds fault: {v} {}",
                report["contradictions"]
            ));
        }
        _ => {}
    }
    wrong
}

#[test]
fn every_mutant_of_the_strong_solution_drops_its_dimension_and_says_why() {
    let text = fs::read_to_string(mutants_dir().join("mutants.toml")).unwrap();
    let mutants: Mutants = toml::from_str(&text).unwrap();
    // Every patch file is listed, and every listed mutant has a patch.
    let patches: Vec<String> = fs::read_dir(mutants_dir())
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.strip_suffix(".patch").map(str::to_string)
        })
        .collect();
    for p in &patches {
        assert!(
            mutants.mutant.iter().any(|m| &m.name == p),
            "{p}.patch is not listed in mutants.toml"
        );
    }
    assert!(mutants.mutant.len() >= 11);

    // ASSAY_MUTANTS=name,name grades only those (mutants, references, or
    // "correct-variants"), e.g. to refresh one debrief snapshot.
    let only: Option<Vec<String>> = std::env::var("ASSAY_MUTANTS")
        .ok()
        .map(|v| v.split(',').map(|x| x.trim().to_string()).collect());
    let wanted = |name: &str| only.as_ref().is_none_or(|o| o.iter().any(|x| x == name));
    let work = tempfile::tempdir().unwrap();
    let (variants, variant_names) = with_variants(&work.path().join("src"));
    let mut sources: Vec<(Option<Mutant>, PathBuf)> = Vec::new();
    if wanted("correct-variants") {
        sources.push((None, variants));
    }
    for reference in DEBRIEFED_REFERENCES.into_iter().filter(|r| wanted(r)) {
        let root = work.path().join("src").join(reference);
        copy_tree(
            &repo_root()
                .join("reference-solutions/marketplace-elt")
                .join(reference),
            &root,
        );
        sources.push((None, root));
    }
    sources.extend(
        mutants
            .mutant
            .iter()
            .filter(|m| wanted(&m.name))
            .map(|m| (Some(m.clone()), mutate(m, &work.path().join("src")))),
    );
    // Each grade is known by the folder it was graded from (a mutant's name,
    // a reference solution's, "correct-variants"): the report's own name
    // carries a hash of the path.
    let results: Vec<(Option<Mutant>, String, Value)> = std::thread::scope(|s| {
        let chunks: Vec<Vec<(Option<Mutant>, PathBuf)>> = vec![
            sources.iter().step_by(2).cloned().collect(),
            sources.iter().skip(1).step_by(2).cloned().collect(),
        ];
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| {
                let out = work.path().join("out");
                s.spawn(move || {
                    chunk
                        .into_iter()
                        .map(|(m, src)| {
                            let name = src.file_name().unwrap().to_owned();
                            let report = grade(&src, &out.join(&name));
                            (m, name.to_string_lossy().into_owned(), report)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let mut failures = Vec::new();
    let mut debriefs = Vec::new();
    for (m, name, report) in &results {
        if DEBRIEFED_REFERENCES.contains(&name.as_str())
            || DEBRIEFED_MUTANTS.contains(&name.as_str())
        {
            let d = debrief(report);
            eprintln!("debrief of {name}: {d:#}");
            failures.extend(debrief_problems(name, report));
            debriefs.push((name.clone(), d));
        }
        if DEBRIEFED_REFERENCES.contains(&name.as_str()) {
            continue;
        }
        let Some(m) = m else {
            let bad: Vec<String> = report["execution"]["hidden_checks"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|h| h["outcome"]["kind"] != "pass")
                .map(|h| format!("{} phase {}: {}", h["check"], h["phase"], h["measured"]))
                .collect();
            eprintln!(
                "correct variants ({}): {} not passing",
                variant_names.join(", "),
                bad.len()
            );
            if !bad.is_empty() {
                failures.push(format!(
                    "correct variants ({}) fail hidden checks:\n  {}",
                    variant_names.join(", "),
                    bad.join("\n  ")
                ));
            }
            if band(report, "data_quality") < 4 {
                // Which criteria cost the points, so a failure names its cause.
                let lost: Vec<String> = report["dimensions"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|d| d["id"] == "data_quality")
                    .flat_map(|d| d["criteria"].as_array().cloned().unwrap_or_default())
                    .filter(|c| c["earned"] != c["points"])
                    .map(|c| {
                        format!(
                            "{} {}/{} {}: {}",
                            c["check"], c["earned"], c["points"], c["outcome"], c["summary"]
                        )
                    })
                    .collect();
                failures.push(format!(
                    "correct variants leave Data Quality below band 4:\n  {}\n  stages: {}",
                    lost.join("\n  "),
                    report["stages"]
                ));
            }
            continue;
        };
        let wrong = judge(m, report);
        let bands: Vec<String> = report["dimensions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| format!("{}={}", d["id"].as_str().unwrap(), d["band"]))
            .collect();
        eprintln!("{} ({}): {}", m.name, m.what, bands.join(" "));
        if !wrong.is_empty() {
            failures.push(format!("{}: {}", m.name, wrong.join("; ")));
        }
    }
    assert!(
        failures.is_empty(),
        "mutants not caught:\n{}",
        failures.join("\n")
    );
    // What the interviewer reads first, held as it reads: the verdict, the
    // contradictions and the questions of each debriefed submission.
    for (name, d) in debriefs {
        insta::assert_json_snapshot!(format!("debrief_{name}"), d);
    }
}
