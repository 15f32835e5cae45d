//! How output looks on this run: colour (`--color`, `NO_COLOR`, whether the
//! stream is a terminal), how much is said (`-q`, `-v`) and whether progress
//! may redraw a line (a terminal) or must print plain lines (a pipe, CI).

use std::io::IsTerminal;
use std::time::Duration;

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ColorChoice {
    /// Colour when the stream is a terminal and NO_COLOR is not set.
    #[default]
    Auto,
    Always,
    Never,
}

/// `-q`, nothing, `-v`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum Verbosity {
    /// Errors and the final summary line(s) only.
    Quiet,
    #[default]
    Normal,
    /// Per-check lines and the grader's log at `info`.
    Verbose,
}

/// The output settings of one process.
#[derive(Debug, Clone, Copy, Default)]
pub struct Term {
    pub stdout: Paint,
    pub stderr: Paint,
    pub verbosity: Verbosity,
    /// stderr is a terminal a spinner may redraw (not CI, not a pipe).
    pub interactive: bool,
}

impl Term {
    /// Reads the streams and the environment once.
    pub fn detect(choice: ColorChoice, verbosity: Verbosity) -> Term {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let dumb = std::env::var_os("TERM").is_some_and(|t| t == "dumb");
        let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty());
        let err_tty = std::io::stderr().is_terminal();
        Term {
            stdout: Paint(use_colour(
                choice,
                std::io::stdout().is_terminal(),
                no_color,
                dumb,
            )),
            stderr: Paint(use_colour(choice, err_tty, no_color, dumb)),
            verbosity,
            interactive: err_tty && !ci && !dumb && verbosity > Verbosity::Quiet,
        }
    }

    pub fn quiet(&self) -> bool {
        self.verbosity == Verbosity::Quiet
    }

    pub fn verbose(&self) -> bool {
        self.verbosity == Verbosity::Verbose
    }
}

/// Whether a stream gets colour. An explicit `--color always` wins over
/// NO_COLOR, as no-color.org asks of command-line flags; `auto` colours only
/// a terminal that is not `dumb`, and only without NO_COLOR.
pub fn use_colour(choice: ColorChoice, terminal: bool, no_color: bool, dumb: bool) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => terminal && !no_color && !dumb,
    }
}

/// Colours text, or passes it through when colour is off.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Paint(pub bool);

impl Paint {
    fn sgr(&self, code: &str, text: &str) -> String {
        if self.0 && !text.is_empty() {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    pub fn on(&self) -> bool {
        self.0
    }
    pub fn bold(&self, text: &str) -> String {
        self.sgr("1", text)
    }
    pub fn dim(&self, text: &str) -> String {
        self.sgr("2", text)
    }
    pub fn red(&self, text: &str) -> String {
        self.sgr("1;31", text)
    }
    pub fn green(&self, text: &str) -> String {
        self.sgr("1;32", text)
    }
    pub fn yellow(&self, text: &str) -> String {
        self.sgr("1;33", text)
    }
    pub fn cyan(&self, text: &str) -> String {
        self.sgr("1;36", text)
    }

    /// A band's colour: 1 red, 2 yellow, 3 cyan, 4 green.
    pub fn band(&self, band: Option<u8>, text: &str) -> String {
        match band {
            Some(1) => self.red(text),
            Some(2) => self.yellow(text),
            Some(3) => self.cyan(text),
            Some(4) => self.green(text),
            _ => text.to_string(),
        }
    }
}

/// A duration as people read it: `0.4 s`, `42 s`, `3 min 05 s`.
pub fn human(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs < 10.0 {
        format!("{secs:.1} s")
    } else if secs < 60.0 {
        format!("{secs:.0} s")
    } else {
        let whole = secs.round() as u64;
        format!("{} min {:02} s", whole / 60, whole % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_colours_only_a_terminal_without_no_color() {
        use ColorChoice::*;
        assert!(use_colour(Auto, true, false, false));
        assert!(!use_colour(Auto, false, false, false), "a pipe");
        assert!(!use_colour(Auto, true, true, false), "NO_COLOR");
        assert!(!use_colour(Auto, true, false, true), "TERM=dumb");
        assert!(use_colour(Always, false, true, true), "the flag wins");
        assert!(!use_colour(Never, true, false, false));
    }

    #[test]
    fn paint_off_is_the_text_itself() {
        assert_eq!(Paint(false).red("x"), "x");
        assert_eq!(Paint(true).red("x"), "\x1b[1;31mx\x1b[0m");
        assert_eq!(Paint(true).band(Some(9), "b"), "b");
    }

    #[test]
    fn durations_read_as_people_say_them() {
        assert_eq!(human(Duration::from_millis(420)), "0.4 s");
        assert_eq!(human(Duration::from_secs(42)), "42 s");
        assert_eq!(human(Duration::from_secs(185)), "3 min 05 s");
    }
}
