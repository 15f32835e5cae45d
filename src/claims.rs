//! Write-up claims that execution refutes. A README that says "all models
//! build" or "payments are deduplicated" makes a claim the grader can check:
//! when the pipeline ran and the data says otherwise, the report shows both
//! the sentence (file:line) and what was measured. For a keyword-stuffer this
//! is the debrief. The phrases that make a claim live in the exercise pack
//! (`claims.toml`), never here.

use std::path::Path;

use serde::Deserialize;

use crate::analyse::docs::{BlockKind, DocsFacts};
use crate::checks::{CheckResult, Contradiction, Evidence, Outcome};
use crate::execute::workloads::dbt::Verdict;

const FILE_NAME: &str = "claims.toml";
/// Characters of the claiming sentence quoted.
const MAX_QUOTE: usize = 300;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claims {
    pub version: u32,
    /// A statement holding one of these (lower case) is not a claim: a plan,
    /// a doubt or a negation ("would dedup", "did not convert").
    #[serde(default)]
    pub hedges: Vec<String>,
    #[serde(default)]
    pub claim: Vec<ClaimDef>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimDef {
    pub id: String,
    /// What the write-up claims, in the report's words.
    pub what: String,
    /// Lower-case phrases; a statement holding any makes the claim ...
    pub phrases: Vec<String>,
    /// ... when it also holds one of these (empty: no further condition).
    #[serde(default)]
    pub context: Vec<String>,
    /// Checks whose failure (or partial pass) refutes the claim.
    #[serde(default)]
    pub refuted_by_checks: Vec<String>,
    /// Traps whose hidden checks, failing on the candidate's rows, refute it.
    #[serde(default)]
    pub refuted_by_traps: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ClaimsError {
    pub path: String,
    pub message: String,
}

impl Claims {
    /// The pack's `claims.toml`; a pack without one claims nothing.
    pub fn load(pack_dir: &Path) -> Result<Claims, ClaimsError> {
        let path = pack_dir.join(FILE_NAME);
        if !path.is_file() {
            return Ok(Claims::default());
        }
        let err = |message: String| ClaimsError {
            path: path.display().to_string(),
            message,
        };
        let text = std::fs::read_to_string(&path).map_err(|e| err(e.to_string()))?;
        let claims: Claims = toml::from_str(&text).map_err(|e| err(e.to_string()))?;
        if claims.version != 1 {
            return Err(err(format!("unsupported version {}", claims.version)));
        }
        for c in &claims.claim {
            if c.phrases.is_empty() {
                return Err(err(format!("claim `{}` has no phrases", c.id)));
            }
            if c.refuted_by_checks.is_empty() && c.refuted_by_traps.is_empty() {
                return Err(err(format!(
                    "claim `{}` names nothing that refutes it",
                    c.id
                )));
            }
        }
        Ok(claims)
    }
}

/// A statement of the write-up: where it is and what it says.
struct Statement<'a> {
    path: &'a str,
    line: u32,
    text: String,
}

fn statements(docs: &DocsFacts) -> Vec<Statement<'_>> {
    let mut out = Vec::new();
    for d in &docs.documents {
        for s in &d.sections {
            // Code is not prose.
            for b in s.blocks.iter().filter(|b| b.kind != BlockKind::Code) {
                // A sentence may run over several lines of its paragraph;
                // its line is the one it starts on.
                for (offset, sentence) in split_sentences(&b.text) {
                    let line = b.text[..offset].matches('\n').count() as u32;
                    out.push(Statement {
                        path: &d.path,
                        line: b.line + line,
                        text: sentence.replace('\n', " "),
                    });
                }
            }
        }
    }
    out
}

/// Sentences with the byte offset each starts at.
fn split_sentences(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut iter = text.char_indices().peekable();
    while let Some((i, c)) = iter.next() {
        let next_blank = iter.peek().is_none_or(|(_, n)| n.is_whitespace());
        if matches!(c, '.' | '!' | '?' | ';') && next_blank {
            let end = i + c.len_utf8();
            push_sentence(&mut out, text, start, end);
            start = end;
        }
    }
    push_sentence(&mut out, text, start, text.len());
    out
}

fn push_sentence(out: &mut Vec<(usize, String)>, text: &str, start: usize, end: usize) {
    let piece = &text[start..end];
    let trimmed = piece.trim_start();
    if trimmed.trim().is_empty() {
        return;
    }
    out.push((
        start + piece.len() - trimmed.len(),
        trimmed.trim_end().to_string(),
    ));
}

/// Every claim of the write-up that what was measured refutes, one
/// contradiction per claim (its first statement quoted).
pub fn refuted(
    claims: &Claims,
    docs: &DocsFacts,
    results: &std::collections::BTreeMap<String, CheckResult>,
    verdicts: &[Verdict],
    trap_of: &dyn Fn(&str) -> Option<String>,
) -> Vec<Contradiction> {
    if claims.claim.is_empty() || verdicts.is_empty() {
        return Vec::new();
    }
    let all = statements(docs);
    let mut out = Vec::new();
    for def in &claims.claim {
        let Some(stmt) = all.iter().find(|s| makes(def, &claims.hedges, &s.text)) else {
            continue;
        };
        let mut refuted_by: Vec<Evidence> = Vec::new();
        let mut check = String::new();
        for id in &def.refuted_by_checks {
            if let Some(r) = results.get(id) {
                if matches!(r.outcome, Outcome::Fail | Outcome::Partial { .. }) {
                    refuted_by.push(Evidence::note(format!("{id}: {}", r.summary)));
                    if check.is_empty() {
                        check = id.clone();
                    }
                }
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        let mut sorted: Vec<&Verdict> = verdicts
            .iter()
            .filter(|v| v.on_data && v.outcome == Outcome::Fail)
            .filter(|v| trap_of(&v.check).is_some_and(|t| def.refuted_by_traps.contains(&t)))
            .collect();
        sorted.sort_by_key(|v| v.phase);
        for v in sorted {
            if seen.insert(v.check.clone()) {
                refuted_by.push(crate::evidence::verdict_evidence(v));
                if check.is_empty() {
                    check = v.check.clone();
                }
            }
        }
        if refuted_by.is_empty() {
            continue;
        }
        refuted_by.truncate(4);
        let quote: String = stmt.text.chars().take(MAX_QUOTE).collect();
        out.push(Contradiction {
            check,
            trap: (def.refuted_by_traps.len() == 1).then(|| def.refuted_by_traps[0].clone()),
            claim: def.what.clone(),
            claimed_by: vec![Evidence::at(
                stmt.path,
                Some(crate::checks::LineSpan::line(stmt.line)),
                "the write-up",
            )
            .with_snippet(quote)],
            refuted_by,
            source: crate::checks::ClaimSource::WriteUp,
        });
    }
    out
}

fn makes(def: &ClaimDef, hedges: &[String], text: &str) -> bool {
    let lower = text.to_lowercase();
    def.phrases.iter().any(|p| lower.contains(p.as_str()))
        && (def.context.is_empty() || def.context.iter().any(|c| lower.contains(c.as_str())))
        && !hedges.iter().any(|h| lower.contains(h.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(phrases: &[&str], context: &[&str]) -> ClaimDef {
        ClaimDef {
            id: "x".into(),
            what: "x".into(),
            phrases: phrases.iter().map(|s| s.to_string()).collect(),
            context: context.iter().map(|s| s.to_string()).collect(),
            refuted_by_checks: vec!["exec.builds_cleanly".into()],
            refuted_by_traps: Vec::new(),
        }
    }

    #[test]
    fn a_claim_needs_its_phrase_and_context_and_no_hedge() {
        let d = def(&["dedup"], &["payment"]);
        let hedges = vec!["would ".to_string(), "not ".to_string()];
        assert!(makes(
            &d,
            &hedges,
            "Payment events are deduplicated on event_id."
        ));
        assert!(!makes(&d, &hedges, "Orders are deduplicated."));
        assert!(!makes(
            &d,
            &hedges,
            "I would dedup payment events with more time."
        ));
        assert!(!makes(&d, &hedges, "Payments are not deduplicated yet."));
    }

    #[test]
    fn sentences_keep_the_line_they_start_on() {
        let text = "Handled: duplicates (dedup with row_number), late data and\nfuture timestamps. Tests pass.";
        let got = split_sentences(text);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].0, 0);
        assert!(got[0].1.contains("future timestamps."));
        assert_eq!(text[..got[1].0].matches('\n').count(), 1);
        assert_eq!(got[1].1, "Tests pass.");
    }

    fn verdict(check: &str, outcome: Outcome, on_data: bool) -> Verdict {
        Verdict {
            check: check.into(),
            phase: 1,
            outcome,
            measured: Some(serde_json::json!(11020)),
            expected: Some(serde_json::json!(10417)),
            note: "measured 11,020, expected 10,417".into(),
            on_data,
        }
    }

    /// Only a failure measured on the candidate's rows refutes a claim, and
    /// the contradiction quotes the sentence at its line.
    #[test]
    fn a_claim_is_refuted_only_by_a_failure_on_data() {
        let claims = Claims {
            version: 1,
            hedges: vec!["would ".into()],
            claim: vec![ClaimDef {
                refuted_by_checks: Vec::new(),
                refuted_by_traps: vec!["T1".into()],
                ..def(&["dedup"], &["payment"])
            }],
        };
        let text =
            "# Notes\n\nOrders load nightly.\nPayment events are deduplicated\non event_id.\n";
        let docs = DocsFacts {
            documents: vec![crate::analyse::docs::parse_document(
                "README.md",
                text,
                &Default::default(),
            )],
            ..DocsFacts::default()
        };
        let results = std::collections::BTreeMap::new();
        let trap_of = |c: &str| (c == "hidden.payments_unique_events").then(|| "T1".to_string());
        let fails = [verdict(
            "hidden.payments_unique_events",
            Outcome::Fail,
            true,
        )];
        let got = refuted(&claims, &docs, &results, &fails, &trap_of);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].source, crate::checks::ClaimSource::WriteUp);
        assert_eq!(got[0].trap.as_deref(), Some("T1"));
        let at = &got[0].claimed_by[0];
        assert_eq!(at.file.as_deref(), Some("README.md"));
        assert_eq!(at.lines.map(|l| l.start), Some(4));
        assert!(at.snippet.as_deref().unwrap().contains("on event_id"));
        // A passing check, or a failure with nothing built to measure, refutes nothing.
        let passes = [verdict(
            "hidden.payments_unique_events",
            Outcome::Pass,
            true,
        )];
        assert!(refuted(&claims, &docs, &results, &passes, &trap_of).is_empty());
        let unbuilt = [verdict(
            "hidden.payments_unique_events",
            Outcome::Fail,
            false,
        )];
        assert!(refuted(&claims, &docs, &results, &unbuilt, &trap_of).is_empty());
        // A plan is not a claim.
        let plan = DocsFacts {
            documents: vec![crate::analyse::docs::parse_document(
                "README.md",
                "I would dedup payment events with more time.",
                &Default::default(),
            )],
            ..DocsFacts::default()
        };
        assert!(refuted(&claims, &plan, &results, &fails, &trap_of).is_empty());
    }

    #[test]
    fn the_pack_claims_load() {
        let c =
            Claims::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/marketplace-elt"))
                .expect("claims.toml loads");
        assert!(!c.claim.is_empty());
    }
}
