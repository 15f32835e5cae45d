//! What a grade is doing while it runs, for the person waiting on it: one
//! line per stage on stderr with the time it took, like cargo and dbt, and a
//! spinner naming the running stage on a terminal. The grade reports its
//! stages to an [`Observer`]; `assay grade` and `calibrate` draw them with
//! [`StageLines`], `assay batch` folds them into its own progress, and
//! library callers pass [`Silent`].

use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::term::{human, Term};

/// A stage of one grade, as the progress names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Acquire,
    /// Inventory and the static analysers.
    Analyse,
    /// The execution stage as a whole, when it does not run.
    Execute,
    /// Reaching the engine and finding (or building) the runner image.
    RunnerImage,
    /// The seeded data, generated on first use.
    Data,
    /// Starting the container and copying the project in.
    Sandbox,
    /// `dbt build` and the hidden checks of phase 1, 2 or 3.
    Dbt(u8),
    /// A pack's hidden Python tests against the submission's code.
    HiddenTests,
    /// The candidate's DAGs loaded by Airflow's DagBag.
    DagLoad,
    Checks,
    /// Scoring and writing the report.
    Report,
}

impl Step {
    pub fn label(self) -> String {
        match self {
            Step::Acquire => "acquire".into(),
            Step::Analyse => "analyse".into(),
            Step::Execute => "execute".into(),
            Step::RunnerImage => "runner image".into(),
            Step::Data => "data".into(),
            Step::Sandbox => "sandbox".into(),
            Step::Dbt(n) => format!("dbt phase {n}/3"),
            Step::HiddenTests => "hidden tests".into(),
            Step::DagLoad => "DAG load".into(),
            Step::Checks => "checks".into(),
            Step::Report => "report".into(),
        }
    }
}

/// How a stage ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    Ok,
    Failed,
    Skipped,
}

/// Receives a grade's stages as they start and end.
pub trait Observer: Send + Sync {
    fn begin(&self, _step: Step) {}
    fn end(&self, _step: Step, _mark: Mark, _detail: &str) {}
    /// What a long stage is doing now (the steps of a runner image build).
    fn detail(&self, _step: Step, _what: &str) {}
    /// A message the person must see whatever the verbosity: the grade will
    /// not be executed, the runner image is being built (minutes).
    fn note(&self, msg: &str) {
        eprintln!("assay: {msg}");
    }
    /// The next of several grades starts (`calibrate` grades each reference
    /// solution in turn): `index` of `total`, from 1.
    fn subject(&self, _name: &str, _index: usize, _total: usize) {}
}

/// Progress nobody watches; notes still reach stderr.
pub struct Silent;

impl Observer for Silent {}

/// Stage lines on stderr for `assay grade` and `assay calibrate`.
pub struct StageLines {
    term: Term,
    bar: Option<ProgressBar>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// The running stage and when it began.
    current: Option<(Step, Instant)>,
    /// Put before each line: which reference solution `calibrate` grades.
    prefix: String,
}

/// Width of the stage column: the longest label, `dbt phase 1/3`, and room.
const LABEL_WIDTH: usize = 14;

impl StageLines {
    pub fn new(term: Term) -> StageLines {
        let bar = term.interactive.then(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            let template = if term.stderr.on() {
                "{spinner:.cyan} {msg} {elapsed:.dim}"
            } else {
                "{spinner} {msg} {elapsed}"
            };
            bar.set_style(ProgressStyle::with_template(template).expect("a valid template"));
            bar.enable_steady_tick(Duration::from_millis(100));
            bar
        });
        StageLines {
            term,
            bar,
            state: Mutex::new(State::default()),
        }
    }

    /// Clears the spinner before the summary is printed.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }

    fn println(&self, text: &str) {
        match &self.bar {
            // Above the spinner, which redraws below it.
            Some(bar) => bar.println(text),
            None => eprintln!("{text}"),
        }
    }

    /// `       analyse    0.2 s  1 dbt project, 1 DAG`
    fn stage_line(
        &self,
        prefix: &str,
        step: Step,
        mark: Mark,
        took: Duration,
        detail: &str,
    ) -> String {
        let label = format!("{:>LABEL_WIDTH$}", step.label());
        let paint = &self.term.stderr;
        let label = match mark {
            Mark::Ok => paint.green(&label),
            Mark::Failed => paint.red(&label),
            Mark::Skipped => paint.yellow(&label),
        };
        let detail = one_line(detail);
        format!("{label} {:>8}  {prefix}{detail}", human(took))
            .trim_end()
            .to_string()
    }
}

impl Observer for StageLines {
    fn begin(&self, step: Step) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.current = Some((step, Instant::now()));
        let prefix = state.prefix.clone();
        drop(state);
        if let Some(bar) = &self.bar {
            bar.reset_elapsed();
            bar.set_message(format!("{prefix}{}…", step.label()));
        } else if self.term.verbose() {
            eprintln!("{:>LABEL_WIDTH$} …  {prefix}started", step.label());
        }
    }

    fn end(&self, step: Step, mark: Mark, detail: &str) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let took = match state.current.take() {
            Some((s, at)) if s == step => at.elapsed(),
            other => {
                state.current = other;
                Duration::ZERO
            }
        };
        let prefix = state.prefix.clone();
        drop(state);
        if !self.term.quiet() {
            self.println(&self.stage_line(&prefix, step, mark, took, detail));
        }
    }

    fn detail(&self, step: Step, what: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(format!("{}: {}", step.label(), one_line(what)));
        } else if self.term.verbose() {
            eprintln!("{:>LABEL_WIDTH$}    …  {}", step.label(), one_line(what));
        }
    }

    /// A heading line, and each stage line names the solution.
    fn subject(&self, name: &str, index: usize, total: usize) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.prefix = format!("{name}: ");
        drop(state);
        if !self.term.quiet() {
            self.println(&format!(
                "{} {name} ({index}/{total})",
                self.term.stderr.bold("grading")
            ));
        }
    }

    fn note(&self, msg: &str) {
        let text = format!("{} {msg}", self.term.stderr.yellow("assay:"));
        self.println(&text);
    }
}

/// Grader and submission text on one progress line: a line must not break
/// in two, and a submission's text must not repaint the terminal.
fn one_line(text: &str) -> String {
    let joined = text.split_whitespace().collect::<Vec<_>>().join(" ");
    crate::inert::inert_name(&joined, 200)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::term::{Paint, Verbosity};

    fn plain() -> StageLines {
        StageLines::new(Term {
            stdout: Paint(false),
            stderr: Paint(false),
            verbosity: Verbosity::Normal,
            interactive: false,
        })
    }

    #[test]
    fn a_stage_line_names_the_stage_its_time_and_what_it_found() {
        let lines = plain();
        let line = lines.stage_line(
            "",
            Step::Dbt(2),
            Mark::Ok,
            Duration::from_millis(12_400),
            "incremental: dbt passed\n",
        );
        assert_eq!(line, " dbt phase 2/3     12 s  incremental: dbt passed");
        let coloured = StageLines::new(Term {
            stderr: Paint(true),
            ..Term::default()
        })
        .stage_line("strong: ", Step::Acquire, Mark::Failed, Duration::ZERO, "x");
        assert!(coloured.starts_with("\x1b[1;31m"), "{coloured:?}");
        assert!(coloured.ends_with("strong: x"), "{coloured:?}");
    }
}
