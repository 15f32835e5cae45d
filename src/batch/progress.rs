//! Progress for people and for logs: bars on a terminal, plain lines when the
//! output is not a terminal or CI is set. NO_COLOR turns colour off.

use std::io::IsTerminal;
use std::sync::Arc;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::One;
use crate::report::Status;

#[derive(Clone)]
pub(crate) struct Progress {
    bar: Option<Arc<ProgressBar>>,
    total: u64,
    done: Arc<std::sync::atomic::AtomicU64>,
}

impl Progress {
    pub fn new(total: u64) -> Progress {
        let interactive = std::io::stderr().is_terminal() && std::env::var_os("CI").is_none();
        let bar = interactive.then(|| {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            let colour = std::env::var_os("NO_COLOR").is_none();
            let template = if colour {
                "{spinner:.green} [{bar:30.cyan/blue}] {pos}/{len} {msg}"
            } else {
                "{spinner} [{bar:30}] {pos}/{len} {msg}"
            };
            bar.set_style(
                ProgressStyle::with_template(template)
                    .expect("a valid template")
                    .progress_chars("=> "),
            );
            Arc::new(bar)
        });
        Progress {
            bar,
            total,
            done: Arc::new(std::sync::atomic::AtomicU64::new(0)),
        }
    }

    pub fn done(&self, id: &str, outcome: &One) {
        let n = self.done.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        let what = match outcome {
            One::Skipped => "unchanged, skipped".to_string(),
            One::Graded(Status::Graded, _) => "graded".to_string(),
            One::Graded(Status::Incomplete, why) => {
                with_reason("incomplete, will be graded again next run", why)
            }
            One::Graded(Status::Error, why) => with_reason("could not be graded", why),
        };
        match &self.bar {
            Some(bar) => {
                bar.set_message(format!("{id}: {what}"));
                bar.inc(1);
            }
            None => eprintln!("[{n}/{}] {id}: {what}", self.total),
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
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
