//! Progress of a cohort for people and for logs: what is running (which
//! submission, which stage, for how long), what finished and how, and when
//! the rest should be done. A bar on a terminal; plain lines when stderr is a
//! pipe or CI is set, so a CI log shows the same.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::One;
use crate::progress::{Mark, Observer, Step};
use crate::report::Status;
use crate::term::{human, Term};

#[derive(Clone)]
pub(crate) struct Progress {
    inner: Arc<Inner>,
}

struct Inner {
    term: Term,
    bar: Option<ProgressBar>,
    total: u64,
    started: Instant,
    state: Mutex<State>,
    stop: AtomicBool,
    ticker: Mutex<Option<JoinHandle<()>>>,
}

#[derive(Default)]
struct State {
    done: u64,
    /// Submissions being graded now, by id.
    running: BTreeMap<String, Running>,
}

struct Running {
    since: Instant,
    stage: String,
}

impl Progress {
    pub fn new(total: u64, term: Term) -> Progress {
        let bar = term.interactive.then(|| {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            let template = if term.stderr.on() {
                "{spinner:.green} [{bar:30.cyan/blue}] {pos}/{len} {msg}"
            } else {
                "{spinner} [{bar:30}] {pos}/{len} {msg}"
            };
            bar.set_style(
                ProgressStyle::with_template(template)
                    .expect("a valid template")
                    .progress_chars("=> "),
            );
            bar
        });
        let inner = Arc::new(Inner {
            term,
            bar,
            total,
            started: Instant::now(),
            state: Mutex::new(State::default()),
            stop: AtomicBool::new(false),
            ticker: Mutex::new(None),
        });
        if inner.bar.is_some() {
            // The running submissions' clocks move between events too.
            let ticking = inner.clone();
            let handle = std::thread::spawn(move || {
                while !ticking.stop.load(Ordering::Relaxed) {
                    if let Some(bar) = &ticking.bar {
                        bar.set_message(ticking.status());
                        bar.tick();
                    }
                    std::thread::sleep(Duration::from_millis(200));
                }
            });
            *inner.ticker.lock().unwrap_or_else(|e| e.into_inner()) = Some(handle);
        }
        Progress { inner }
    }

    /// A submission got its slot and starts.
    pub fn start(&self, id: &str) {
        self.inner.state().running.insert(
            id.to_string(),
            Running {
                since: Instant::now(),
                stage: "starting".into(),
            },
        );
    }

    /// The stages of one submission's grade, as the batch shows them.
    pub fn observer(&self, id: &str) -> SubmissionObserver {
        SubmissionObserver {
            id: id.to_string(),
            inner: self.inner.clone(),
        }
    }

    pub fn done(&self, id: &str, outcome: &One) {
        let mut state = self.inner.state();
        state.done += 1;
        let took = state
            .running
            .remove(id)
            .map(|r| r.since.elapsed())
            .unwrap_or_default();
        let n = state.done;
        drop(state);
        let paint = &self.inner.term.stderr;
        let what = match outcome {
            One::Skipped => "unchanged, skipped".to_string(),
            One::Graded {
                status: Status::Graded,
                overall,
                band,
                ..
            } => {
                let score = overall.map_or_else(|| "–".to_string(), |s| format!("{s:.1}"));
                let band_text = band.map_or_else(String::new, |b| format!(" (band {b})"));
                format!(
                    "{}, overall {}",
                    paint.green("graded"),
                    paint.band(*band, &format!("{score}{band_text}"))
                )
            }
            One::Graded {
                status: Status::Incomplete,
                why,
                ..
            } => with_reason(
                &paint.yellow("incomplete, will be graded again next run"),
                why,
            ),
            One::Graded {
                status: Status::Error,
                why,
                ..
            } => with_reason(&paint.red("could not be graded"), why),
        };
        if self.inner.term.quiet() {
            return;
        }
        let mut line = format!("[{n}/{}] {id}: {what} in {}", self.inner.total, human(took));
        let status = self.inner.status();
        if self.inner.bar.is_none() && !status.is_empty() {
            line.push_str("; ");
            line.push_str(&status);
        }
        self.inner.println(&line);
        if let Some(bar) = &self.inner.bar {
            bar.inc(1);
            bar.set_message(status);
        }
    }

    pub fn finish(&self) {
        self.inner.stop.store(true, Ordering::Relaxed);
        let ticker = self
            .inner
            .ticker
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(handle) = ticker {
            let _ = handle.join();
        }
        if let Some(bar) = &self.inner.bar {
            bar.finish_and_clear();
        }
    }
}

impl Inner {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn println(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.println(text),
            None => eprintln!("{text}"),
        }
    }

    /// `running: a (dbt phase 2/3, 20 s), b (analyse, 1 s); ETA 1 min 10 s`
    fn status(&self) -> String {
        let state = self.state();
        let running: Vec<String> = state
            .running
            .iter()
            .map(|(id, r)| format!("{id} ({}, {})", r.stage, human(r.since.elapsed())))
            .collect();
        let mut parts = Vec::new();
        if !running.is_empty() {
            parts.push(format!("running: {}", running.join(", ")));
        }
        if let Some(eta) = eta(self.started.elapsed(), state.done, self.total) {
            parts.push(format!("ETA {}", human(eta)));
        }
        parts.join("; ")
    }
}

/// The time the rest should take at the pace so far (which counts the
/// parallel slots in): none before the first submission finishes or after
/// the last.
pub(crate) fn eta(elapsed: Duration, done: u64, total: u64) -> Option<Duration> {
    if done == 0 || done >= total {
        return None;
    }
    Some(elapsed.mul_f64((total - done) as f64 / done as f64))
}

/// One submission's grade, reported into the batch's progress.
pub(crate) struct SubmissionObserver {
    id: String,
    inner: Arc<Inner>,
}

impl SubmissionObserver {
    fn set_stage(&self, stage: String) {
        if let Some(r) = self.inner.state().running.get_mut(&self.id) {
            r.stage = stage;
        }
    }
}

impl Observer for SubmissionObserver {
    fn begin(&self, step: Step) {
        self.set_stage(step.label());
    }

    fn end(&self, step: Step, mark: Mark, detail: &str) {
        // Each stage of each submission is a line only when asked for (-v):
        // with several grades at once they would bury the results.
        if self.inner.term.verbose() {
            let mark = match mark {
                Mark::Ok => "",
                Mark::Failed => " failed",
                Mark::Skipped => " skipped",
            };
            let detail = detail.split_whitespace().collect::<Vec<_>>().join(" ");
            self.inner.println(&format!(
                "  {}: {}{mark}: {}",
                self.id,
                step.label(),
                crate::inert::inert_name(&detail, 200)
            ));
        }
    }

    fn detail(&self, step: Step, what: &str) {
        self.set_stage(format!("{}: {what}", step.label()));
    }

    fn note(&self, msg: &str) {
        self.inner.println(&format!("assay: {}: {msg}", self.id));
    }
}

/// `what: why` on one line: a progress line must not break in two.
fn with_reason(what: &str, why: &Option<String>) -> String {
    match why {
        Some(why) if !why.trim().is_empty() => {
            format!(
                "{what}: {}",
                why.split_whitespace().collect::<Vec<_>>().join(" ")
            )
        }
        _ => what.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_eta_follows_the_pace_so_far() {
        let minute = Duration::from_secs(60);
        assert_eq!(eta(minute, 0, 4), None, "nothing to go by yet");
        assert_eq!(eta(minute, 1, 4), Some(Duration::from_secs(180)));
        assert_eq!(eta(minute, 3, 4), Some(Duration::from_secs(20)));
        assert_eq!(eta(minute, 4, 4), None, "done");
    }
}
