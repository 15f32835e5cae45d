//! report.html: one self-contained page rendered from report.json with handlebars
//! templates kept in `src/report/templates/`. No script, no network: inline CSS
//! and SVG under a Content-Security-Policy with `script-src 'none'`. Every string
//! that came from the submission goes through handlebars' escaping (`{{x}}`, never
//! `{{{x}}}`), and links are built only from allowlisted URL schemes.

use std::sync::OnceLock;

use handlebars::Handlebars;
use serde::Serialize;

use super::{Report, Status, TrapState};
use crate::checks::{Evidence, Outcome};

/// The page, in order: each piece is a template of its own, rendered against
/// one context and joined. handlebars finds the line and column of every
/// token by counting from the start of its template, so compiling the page as
/// one 8 KB template cost more CPU than anything else in a static grade; and
/// a partial copies its whole context, so the pieces are not partials of a
/// page but rendered one after the other.
const PAGE: &[(&str, &str)] = &[
    ("page_open", include_str!("templates/page_open.html.hbs")),
    // The stylesheet is part of the template, never data.
    ("style", include_str!("templates/report.css")),
    (
        "page_header",
        include_str!("templates/page_header.html.hbs"),
    ),
    (
        "page_verdict",
        include_str!("templates/page_verdict.html.hbs"),
    ),
    (
        "page_contradictions",
        include_str!("templates/page_contradictions.html.hbs"),
    ),
    (
        "page_glance_open",
        include_str!("templates/page_glance_open.html.hbs"),
    ),
    ("chart", include_str!("templates/chart.svg.hbs")),
    (
        "page_glance",
        include_str!("templates/page_glance.html.hbs"),
    ),
    (
        "page_followups",
        include_str!("templates/page_followups.html.hbs"),
    ),
    (
        "page_execution",
        include_str!("templates/page_execution.html.hbs"),
    ),
    (
        "page_dimensions",
        include_str!("templates/page_dimensions.html.hbs"),
    ),
    ("page_close", include_str!("templates/page_close.html.hbs")),
];
const CRITERION: &str = include_str!("templates/criterion.html.hbs");
const EVIDENCE: &str = include_str!("templates/evidence.html.hbs");
const MODEL_FAILURES: &str = include_str!("templates/model_failures.html.hbs");

/// Lines of a snippet shown; longer evidence says how many were cut.
const MAX_SNIPPET_LINES: usize = 40;
/// Characters of one measured/expected value shown.
const MAX_VALUE_CHARS: usize = 400;

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("a report template is broken: {0}")]
    Template(#[from] Box<handlebars::TemplateError>),
    #[error("rendering the report failed: {0}")]
    Render(#[from] Box<handlebars::RenderError>),
    /// The templates failed to compile when they were first prepared.
    #[error("a report template is broken: {0}")]
    Compile(String),
}

fn registry() -> Result<Handlebars<'static>, RenderError> {
    let mut hb = Handlebars::new();
    hb.set_strict_mode(true);
    for (name, piece) in PAGE {
        hb.register_template_string(name, piece).map_err(Box::new)?;
    }
    hb.register_partial("criterion", CRITERION)
        .map_err(Box::new)?;
    hb.register_partial("evidence", EVIDENCE)
        .map_err(Box::new)?;
    hb.register_partial("model_failures", MODEL_FAILURES)
        .map_err(Box::new)?;
    Ok(hb)
}

/// The compiled templates, built once per process. Compiling them costs about
/// a millisecond of CPU, so [`prepare`] starts it beside the analysis.
static REGISTRY: OnceLock<Result<Handlebars<'static>, String>> = OnceLock::new();

fn compiled() -> Result<&'static Handlebars<'static>, RenderError> {
    REGISTRY
        .get_or_init(|| registry().map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|e| RenderError::Compile(e.clone()))
}

/// Compiles the templates on a thread of their own, beside the grade's
/// analysis, so that the report does not wait for them.
pub fn prepare() {
    if REGISTRY.get().is_none() {
        std::thread::spawn(|| {
            let _ = compiled();
        });
    }
}

pub fn render(report: &Report) -> Result<String, RenderError> {
    let view = View::from_report(report);
    let hb = compiled()?;
    // One context for every piece: the view is turned into JSON once.
    let context = handlebars::Context::wraps(&view).map_err(Box::new)?;
    let mut page = String::new();
    for (name, _) in PAGE {
        page.push_str(&hb.render_with_context(name, &context).map_err(Box::new)?);
    }
    Ok(page)
}

/// Only http(s) URLs become links; anything else (javascript:, data:, file:) is
/// shown as text.
pub fn safe_url(url: &str) -> Option<String> {
    let trimmed = url.trim();
    let lower = trimmed.to_ascii_lowercase();
    let allowed = (lower.starts_with("https://") || lower.starts_with("http://"))
        && !trimmed.chars().any(|c| c.is_whitespace() || c.is_control());
    allowed.then(|| trimmed.to_string())
}

/// A link to a file at a commit on a known forge, when the submission came from one.
fn forge_link(
    source: &str,
    commit: Option<&str>,
    file: &str,
    lines: Option<(u32, u32)>,
) -> Option<String> {
    let base = safe_url(source)?;
    let base = base.trim_end_matches('/').trim_end_matches(".git");
    let commit = commit?;
    if !commit.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let host = base.split("://").nth(1)?.split('/').next()?;
    let path: String = file
        .split('/')
        .map(|seg| {
            seg.bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() || b"-_.".contains(&b) {
                        (b as char).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("/");
    let anchor = match (host, lines) {
        ("github.com", Some((s, e))) => format!("#L{s}-L{e}"),
        ("gitlab.com", Some((s, e))) => format!("#L{s}-{e}"),
        _ => String::new(),
    };
    match host {
        "github.com" => Some(format!("{base}/blob/{commit}/{path}{anchor}")),
        "gitlab.com" => Some(format!("{base}/-/blob/{commit}/{path}{anchor}")),
        _ => None,
    }
}

fn anchor(prefix: &str, id: &str) -> String {
    let clean: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    format!("{prefix}-{clean}")
}

fn score_text(score: Option<f64>) -> String {
    score
        .map(|s| format!("{s:.1}"))
        .unwrap_or_else(|| "–".into())
}

fn outcome_class(o: Outcome) -> &'static str {
    match o {
        Outcome::Pass => "pass",
        Outcome::Partial { .. } => "partial",
        Outcome::Fail | Outcome::NotAttempted => "fail",
        Outcome::NotApplicable => "na",
        Outcome::Error => "error",
    }
}

fn outcome_text(o: Outcome) -> String {
    match o {
        Outcome::Partial { fraction } => format!("partial {:.0} %", fraction * 100.0),
        other => other.label().to_string(),
    }
}

fn value_text(v: &serde_json::Value) -> String {
    let s = match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if s.chars().count() > MAX_VALUE_CHARS {
        let cut: String = s.chars().take(MAX_VALUE_CHARS).collect();
        format!("{cut}…")
    } else {
        s
    }
}

#[derive(Serialize)]
struct View {
    title: String,
    header: Header,
    overall: Band,
    chart: Chart,
    dimensions: Vec<DimView>,
    /// What running the pipeline showed, before any score.
    verdict: Option<VerdictView>,
    /// Why a band is lower than its points: the rubric's gates that closed.
    ceilings: Vec<String>,
    contradictions: Vec<ContradictionView>,
    has_traps: bool,
    traps: Vec<TrapView>,
    execution: Option<ExecView>,
    strengths: Vec<String>,
    gaps: Vec<String>,
    followups: Vec<FollowView>,
    notices: Vec<String>,
    has_overrides: bool,
    error: Option<String>,
    stages: Vec<StageView>,
}

#[derive(Serialize)]
struct Header {
    name: String,
    source: String,
    source_url: Option<String>,
    commit: Option<String>,
    commit_short: Option<String>,
    exercise: String,
    grader: String,
    graded_at: String,
    rubric_sha: String,
    /// Which dbt project was graded, when the submission holds several.
    project: Option<String>,
}

#[derive(Serialize)]
struct Band {
    score: String,
    band: String,
    label: String,
}

#[derive(Serialize)]
struct Chart {
    height: u32,
    rows: Vec<ChartRow>,
    grid: Vec<GridLine>,
}

#[derive(Serialize)]
struct ChartRow {
    y: u32,
    text_y: u32,
    name: String,
    bar_width: f64,
    score: String,
    band_class: String,
    label: String,
    override_x: Option<f64>,
    href: String,
}

#[derive(Serialize)]
struct GridLine {
    x: f64,
    label: String,
}

/// Where the chart's bars start and how wide 100 points are (SVG user units).
const CHART_X0: f64 = 150.0;
const CHART_W: f64 = 320.0;

#[derive(Serialize)]
struct DimView {
    anchor: String,
    name: String,
    score: String,
    band: String,
    band_class: String,
    band_label: String,
    descriptor: String,
    incomplete: bool,
    weight: String,
    overridden: Option<OverrideView>,
    criteria: Vec<CritView>,
}

#[derive(Serialize)]
struct OverrideView {
    band: String,
    band_label: String,
    reason: String,
    who: String,
    automatic: String,
}

#[derive(Serialize)]
struct CritView {
    anchor: String,
    check: String,
    title: String,
    points: String,
    outcome: String,
    outcome_class: String,
    confidence: String,
    summary: String,
    evidence: Vec<EvidenceView>,
    open: bool,
}

#[derive(Serialize)]
struct ContradictionView {
    title: String,
    claim_label: &'static str,
    refuted_label: &'static str,
    claim: String,
    claimed_by: Vec<EvidenceView>,
    refuted_by: Vec<EvidenceView>,
}

#[derive(Serialize)]
struct EvidenceView {
    location: Option<String>,
    link: Option<String>,
    note: String,
    measured: Option<String>,
    expected: Option<String>,
    lines: Vec<CodeLine>,
    cut: Option<String>,
}

#[derive(Serialize)]
struct CodeLine {
    n: String,
    text: String,
}

#[derive(Serialize)]
struct TrapView {
    id: String,
    title: String,
    found: Cell,
    handled: Cell,
    handled_basis: String,
    tested: Cell,
    notes: Vec<String>,
    checks: String,
}

#[derive(Serialize)]
struct Cell {
    text: &'static str,
    class: &'static str,
}

fn cell(s: TrapState) -> Cell {
    Cell {
        text: s.label(),
        class: match s {
            TrapState::Yes => "pass",
            TrapState::Partly => "partial",
            TrapState::No => "fail",
            TrapState::Unknown => "na",
        },
    }
}

#[derive(Serialize)]
struct VerdictView {
    executed: bool,
    ok: bool,
    headline: String,
    phases: Vec<PhaseVerdictView>,
    failing: Vec<ModelView>,
    failing_more: Vec<ModelView>,
    more_count: usize,
}

#[derive(Serialize)]
struct PhaseVerdictView {
    label: String,
    status: String,
    class: &'static str,
    reasons: String,
    errored: Vec<NodeView>,
    failed_tests: Vec<NodeView>,
    hidden: String,
}

#[derive(Serialize)]
struct NodeView {
    node: String,
    message: String,
}

#[derive(Serialize)]
struct ModelView {
    model: String,
    checks: Vec<FailingView>,
}

#[derive(Serialize)]
struct FailingView {
    title: String,
    check: String,
    trap: String,
    when: String,
    note: String,
    measured: String,
    expected: String,
    examples: Vec<String>,
}

fn verdict_view(v: &super::Verdict) -> VerdictView {
    let nodes = |list: &[super::NodeIssue]| {
        list.iter()
            .map(|n| NodeView {
                node: n.node.clone(),
                message: n.message.clone(),
            })
            .collect()
    };
    let (failing, failing_more, more_count) = split_failing(v);
    VerdictView {
        executed: v.executed,
        ok: v.executed && v.hidden_failing == 0 && v.phases.iter().all(|p| p.passed),
        headline: v.headline.clone(),
        phases: v
            .phases
            .iter()
            .map(|p| PhaseVerdictView {
                label: format!("Phase {} · {}", p.phase, p.name),
                status: p.status.clone(),
                class: if p.passed { "pass" } else { "fail" },
                reasons: p.reasons.join("; "),
                errored: nodes(&p.errored),
                failed_tests: nodes(&p.failed_tests),
                hidden: if p.hidden_run == 0 {
                    String::new()
                } else if p.hidden_failing == 0 {
                    format!("all {} hidden checks agree", p.hidden_run)
                } else {
                    format!(
                        "{} of {} hidden checks disagree",
                        p.hidden_failing, p.hidden_run
                    )
                },
            })
            .collect(),
        failing,
        failing_more,
        more_count,
    }
}

/// How many failing hidden checks the verdict card lists before folding the
/// rest away: with a few shown, the contradictions (the "why") still reach
/// the first screen when most checks fail.
const VERDICT_CHECKS_SHOWN: usize = 4;

/// The failing checks by model, split into those shown and those folded.
fn split_failing(v: &super::Verdict) -> (Vec<ModelView>, Vec<ModelView>, usize) {
    let mut shown: Vec<ModelView> = Vec::new();
    let mut more: Vec<ModelView> = Vec::new();
    let mut budget = VERDICT_CHECKS_SHOWN;
    let mut more_count = 0;
    for m in &v.failing {
        let views: Vec<FailingView> = m
            .checks
            .iter()
            .map(|c| FailingView {
                title: c.title.clone(),
                check: c.check.clone(),
                trap: c.trap.clone().unwrap_or_default(),
                when: c.when.clone(),
                note: c.note.clone(),
                measured: c.measured.clone().unwrap_or_default(),
                expected: c.expected.clone().unwrap_or_default(),
                examples: c.examples.clone(),
            })
            .collect();
        let take = budget.min(views.len());
        budget -= take;
        let mut views = views.into_iter();
        let first: Vec<FailingView> = views.by_ref().take(take).collect();
        let rest: Vec<FailingView> = views.collect();
        if !first.is_empty() {
            shown.push(ModelView {
                model: m.model.clone(),
                checks: first,
            });
        }
        if !rest.is_empty() {
            more_count += rest.len();
            more.push(ModelView {
                model: m.model.clone(),
                checks: rest,
            });
        }
    }
    (shown, more, more_count)
}

#[derive(Serialize)]
struct ExecView {
    phases: Vec<PhaseView>,
    hidden: Vec<HiddenView>,
    has_hidden: bool,
    tests: Option<String>,
    log_tail: Option<String>,
}

#[derive(Serialize)]
struct PhaseView {
    phase: String,
    name: String,
    status: String,
    detail: String,
    nodes: String,
    problems: Vec<String>,
}

/// One hidden check over the phases: a row per check, not per phase, with
/// the figures of the first phase that disagrees (else the last phase run).
#[derive(Serialize)]
struct HiddenView {
    check: String,
    title: String,
    model: String,
    trap: String,
    cells: Vec<HiddenCell>,
    note: String,
    measured: String,
    expected: String,
    examples: Vec<String>,
}

#[derive(Serialize)]
struct HiddenCell {
    phase: String,
    outcome: String,
    outcome_class: String,
}

fn hidden_rows(runs: &[super::HiddenCheckRun]) -> Vec<HiddenView> {
    let mut ids: Vec<&str> = Vec::new();
    for h in runs {
        if !ids.contains(&h.check.as_str()) {
            ids.push(&h.check);
        }
    }
    let mut rows: Vec<(bool, HiddenView)> = ids
        .into_iter()
        .map(|id| {
            let mine: Vec<&super::HiddenCheckRun> = runs.iter().filter(|h| h.check == id).collect();
            let bad = mine
                .iter()
                .find(|h| matches!(h.outcome, Outcome::Fail | Outcome::NotAttempted));
            let shown = bad.or(mine.last()).copied().expect("a check has a run");
            let m = super::values::readable(
                &shown.compare,
                shown.noun.as_deref(),
                shown.measured.as_ref(),
            );
            let e = super::values::readable(
                &shown.compare,
                shown.noun.as_deref(),
                shown.expected.as_ref(),
            );
            (
                bad.is_some(),
                HiddenView {
                    check: id.to_string(),
                    title: shown.title.clone(),
                    model: shown.model.clone(),
                    trap: shown.trap.clone().unwrap_or_default(),
                    cells: mine
                        .iter()
                        .map(|h| HiddenCell {
                            phase: h.phase.to_string(),
                            outcome: outcome_text(h.outcome),
                            outcome_class: outcome_class(h.outcome).into(),
                        })
                        .collect(),
                    note: shown.note.clone(),
                    measured: m.as_ref().map(|f| f.text.clone()).unwrap_or_default(),
                    expected: e.map(|f| f.text).unwrap_or_default(),
                    examples: m.map(|f| f.examples).unwrap_or_default(),
                },
            )
        })
        .collect();
    // Disagreements first; the pack's order otherwise.
    rows.sort_by_key(|(bad, _)| !*bad);
    rows.into_iter().map(|(_, v)| v).collect()
}

#[derive(Serialize)]
struct FollowView {
    question: String,
    because: String,
    ground: String,
    href: String,
}

#[derive(Serialize)]
struct StageView {
    stage: String,
    status: String,
    detail: String,
}

fn contradiction_title(c: &super::Contradiction) -> String {
    let who = match c.source {
        crate::checks::ClaimSource::Code => "the code looks right, the data says otherwise",
        crate::checks::ClaimSource::WriteUp => "the write-up claims it, the data says otherwise",
        crate::checks::ClaimSource::Description => {
            "the description claims work the code does not do"
        }
    };
    match &c.trap {
        Some(t) => format!("{t}: {who}"),
        None => {
            let mut w = who.to_string();
            w[..1].make_ascii_uppercase();
            w
        }
    }
}

fn tally_text(t: &super::TestTally) -> String {
    format!(
        "{} total: {} passed, {} failed, {} errored, {} warned, {} skipped",
        t.total, t.passed, t.failed, t.errored, t.warned, t.skipped
    )
}

fn evidence_view(e: &Evidence, report: &Report) -> EvidenceView {
    let location = e.file.as_ref().map(|f| match e.lines {
        Some(l) if l.start == l.end => format!("{f}:{}", l.start),
        Some(l) => format!("{f}:{}-{}", l.start, l.end),
        None => f.clone(),
    });
    let link = e.file.as_ref().and_then(|f| {
        forge_link(
            &report.submission.source,
            report.submission.commit.as_deref(),
            f,
            e.lines.map(|l| (l.start, l.end)),
        )
    });
    let first = e.lines.map(|l| l.start).unwrap_or(1);
    let mut lines = Vec::new();
    let mut cut = None;
    if let Some(snippet) = &e.snippet {
        let all: Vec<&str> = snippet.lines().collect();
        for (i, text) in all.iter().take(MAX_SNIPPET_LINES).enumerate() {
            lines.push(CodeLine {
                n: (first as usize + i).to_string(),
                text: text.to_string(),
            });
        }
        if all.len() > MAX_SNIPPET_LINES {
            cut = Some(format!(
                "{} more line(s) not shown",
                all.len() - MAX_SNIPPET_LINES
            ));
        }
    }
    EvidenceView {
        location,
        link,
        note: e.note.clone(),
        measured: e.measured.as_ref().map(value_text),
        expected: e.expected.as_ref().map(value_text),
        lines,
        cut,
    }
}

impl View {
    fn from_report(r: &Report) -> View {
        let sub = &r.submission;
        let band_of = |b: Option<u8>| b.map(|b| b.to_string()).unwrap_or_else(|| "–".into());
        let override_of = |id: &str| r.overrides.iter().find(|o| o.dimension == id);
        let mut rows = Vec::new();
        for (i, d) in r.dimensions.iter().enumerate() {
            let y = 12 + 34 * i as u32;
            rows.push(ChartRow {
                y,
                text_y: y + 15,
                name: d.name.clone(),
                bar_width: (d.score.unwrap_or(0.0).clamp(0.0, 100.0) / 100.0 * CHART_W).round(),
                score: match (d.score, d.band) {
                    (Some(s), Some(b)) => format!("{s:.0} · band {b}"),
                    _ => "not scored".into(),
                },
                band_class: format!("b{}", d.band.unwrap_or(0)),
                label: d.band_label.clone().unwrap_or_default(),
                override_x: override_of(&d.id)
                    .map(|o| CHART_X0 + (o.band as f64 - 0.5) / 4.0 * CHART_W),
                href: format!("#{}", anchor("dim", &d.id)),
            });
        }
        let chart = Chart {
            height: 12 + 34 * r.dimensions.len() as u32 + 14,
            rows,
            grid: [0.0, 25.0, 50.0, 75.0, 100.0]
                .iter()
                .map(|v| GridLine {
                    x: CHART_X0 + v / 100.0 * CHART_W,
                    label: format!("{v:.0}"),
                })
                .collect(),
        };
        let dimensions = r
            .dimensions
            .iter()
            .map(|d| DimView {
                anchor: anchor("dim", &d.id),
                name: d.name.clone(),
                score: score_text(d.score),
                band: band_of(d.band),
                band_class: format!("b{}", d.band.unwrap_or(0)),
                band_label: d.band_label.clone().unwrap_or_else(|| "not scored".into()),
                descriptor: d.descriptor.clone().unwrap_or_default(),
                incomplete: d.incomplete,
                weight: format!("{:.0} %", d.weight * 100.0),
                overridden: override_of(&d.id).map(|o| OverrideView {
                    band: o.band.to_string(),
                    band_label: o.band_label.clone(),
                    reason: o.reason.clone(),
                    who: o.who.clone(),
                    automatic: format!(
                        "automatic: band {} ({})",
                        band_of(o.automatic_band),
                        score_text(o.automatic_score)
                    ),
                }),
                criteria: d
                    .criteria
                    .iter()
                    .map(|c| CritView {
                        anchor: anchor("c", &c.check),
                        check: c.check.clone(),
                        title: c.title.clone(),
                        points: match c.earned {
                            Some(e) => format!("{e:.1} / {:.1}", c.weighted_points),
                            None => format!("– / {:.1}", c.weighted_points),
                        },
                        outcome: outcome_text(c.outcome),
                        outcome_class: outcome_class(c.outcome).into(),
                        confidence: c.confidence.as_str().into(),
                        summary: c.summary.clone(),
                        evidence: c.evidence.iter().map(|e| evidence_view(e, r)).collect(),
                        open: false,
                    })
                    .collect(),
            })
            .collect();
        let execution = r.execution.as_ref().map(|x| ExecView {
            phases: x
                .phases
                .iter()
                .map(|p| PhaseView {
                    phase: p.phase.to_string(),
                    name: p.name.clone(),
                    status: p.status.clone(),
                    detail: p.detail.clone().unwrap_or_default(),
                    // A phase that ran without dbt's results (dbt crashed, or an
                    // artifact was refused) says so rather than showing nothing.
                    nodes: p.nodes.as_ref().map(tally_text).unwrap_or_else(|| {
                        if p.status == "skipped" {
                            String::new()
                        } else {
                            "not known: no run_results.json was read".into()
                        }
                    }),
                    problems: p.problems.clone(),
                })
                .collect(),
            has_hidden: !x.hidden_checks.is_empty(),
            hidden: hidden_rows(&x.hidden_checks),
            tests: x.candidate_tests.as_ref().map(tally_text),
            log_tail: (!x.dbt_log_tail.is_empty()).then(|| x.dbt_log_tail.join("\n")),
        });
        View {
            title: format!("assay · {} · {}", sub.name, r.exercise),
            header: Header {
                name: sub.name.clone(),
                source: sub.source.clone(),
                source_url: safe_url(&sub.source),
                commit: sub.commit.clone(),
                commit_short: sub.commit.as_ref().map(|c| c.chars().take(10).collect()),
                exercise: r.exercise.clone(),
                grader: format!("{} {}", r.grader.name, r.grader.version),
                graded_at: r.graded_at.clone(),
                rubric_sha: r.rubric.sha256.chars().take(12).collect(),
                project: super::graded_project_line(r),
            },
            overall: Band {
                score: score_text(r.overall.score),
                band: band_of(r.overall.band),
                label: r
                    .overall
                    .band_label
                    .clone()
                    .unwrap_or_else(|| "not scored".into()),
            },
            chart,
            dimensions,
            verdict: r.verdict.as_ref().map(verdict_view),
            ceilings: r
                .ceilings()
                .into_iter()
                .map(|(name, c)| {
                    format!(
                        "{name} held at band {} (its points gave {:.1}): {}",
                        c.max_band, c.uncapped_score, c.why
                    )
                })
                .collect(),
            contradictions: r
                .contradictions
                .iter()
                .map(|c| ContradictionView {
                    title: contradiction_title(c),
                    claim_label: match c.source {
                        crate::checks::ClaimSource::Code => "The code claims:",
                        crate::checks::ClaimSource::WriteUp => "The write-up claims:",
                        crate::checks::ClaimSource::Description => "The description claims:",
                    },
                    refuted_label: match c.source {
                        crate::checks::ClaimSource::Description => "What the code does:",
                        _ => "Measured on the seeded data:",
                    },
                    claim: c.claim.clone(),
                    claimed_by: c.claimed_by.iter().map(|e| evidence_view(e, r)).collect(),
                    refuted_by: c.refuted_by.iter().map(|e| evidence_view(e, r)).collect(),
                })
                .collect(),
            has_traps: !r.traps.is_empty(),
            traps: r
                .traps
                .iter()
                .map(|t| TrapView {
                    id: t.id.clone(),
                    title: t.title.clone(),
                    found: cell(t.found),
                    handled: cell(t.handled),
                    handled_basis: match t.handled_basis.as_str() {
                        "executed" => "measured".into(),
                        "static" => "from the code".into(),
                        _ => String::new(),
                    },
                    tested: cell(t.tested),
                    notes: t.notes.clone(),
                    checks: t.checks.join(", "),
                })
                .collect(),
            execution,
            strengths: r.strengths.clone(),
            gaps: r.gaps.clone(),
            followups: r
                .followups
                .iter()
                .map(|f| FollowView {
                    question: f.question.clone(),
                    because: f.because.clone(),
                    ground: f.ground.clone(),
                    href: format!("#{}", anchor("c", &f.check)),
                })
                .collect(),
            notices: r.notices.clone(),
            has_overrides: !r.overrides.is_empty(),
            error: (r.status == Status::Error).then(|| {
                r.error
                    .clone()
                    .unwrap_or_else(|| "the submission could not be graded".into())
            }),
            stages: r
                .stages
                .iter()
                .map(|s| StageView {
                    stage: format!("{:?}", s.stage).to_lowercase(),
                    status: format!("{:?}", s.status).to_lowercase(),
                    detail: s.detail.clone(),
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_urls_become_links() {
        assert!(safe_url("https://github.com/a/b").is_some());
        assert!(safe_url("javascript:alert(1)").is_none());
        assert!(safe_url(" JavaScript:alert(1)").is_none());
        assert!(safe_url("data:text/html,x").is_none());
        assert!(safe_url("https://x/ y").is_none());
        assert!(safe_url("/local/path").is_none());
    }

    #[test]
    fn forge_links_encode_paths_and_need_a_commit() {
        let c = "0123456789abcdef0123456789abcdef01234567";
        assert_eq!(
            forge_link("https://github.com/o/r.git", Some(c), "models/a b.sql", Some((3, 4))).as_deref(),
            Some("https://github.com/o/r/blob/0123456789abcdef0123456789abcdef01234567/models/a%20b.sql#L3-L4")
        );
        assert!(forge_link("https://github.com/o/r", None, "x", None).is_none());
        assert!(forge_link("https://example.org/o/r", Some(c), "x", None).is_none());
        assert!(forge_link("javascript:x", Some(c), "x", None).is_none());
    }
}
