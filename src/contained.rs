//! Parsers that can abort the process (tree-sitter-python on some inputs,
//! sqlparser dropping a very deep AST) run here: in a child process of assay
//! itself, with memory and CPU limits, a wall-clock kill and a cap on what it may
//! print. A crash costs one file's analysis, never the grader.
//!
//! The child is `assay __contained <kind>`: it reads the input on stdin, runs the
//! parser registered for `kind` in [`PARSERS`], and prints the result (JSON).

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use wait_timeout::ChildExt;

/// A parser entry point: input bytes in, serialised facts out.
pub type ParserFn = fn(&[u8]) -> Result<Vec<u8>, String>;

/// Every parser that runs contained, by kind. Analysers register theirs here.
pub static PARSERS: &[(&str, ParserFn)] = &[
    ("echo", echo),
    ("python", crate::analyse::dag::contained_entry),
    ("sql", crate::analyse::dbt::sql::contained_entry),
    ("dbt_model", crate::analyse::dbt::model_contained_entry),
];

#[derive(Debug, Clone)]
pub struct ContainedLimits {
    pub timeout: Duration,
    /// Address-space cap of the child, in bytes.
    pub memory_bytes: u64,
    pub max_output_bytes: usize,
}

impl Default for ContainedLimits {
    fn default() -> Self {
        ContainedLimits {
            timeout: Duration::from_secs(20),
            memory_bytes: 2 * 1024 * 1024 * 1024,
            max_output_bytes: 32 * 1024 * 1024,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ContainedError {
    #[error("the parser crashed ({0})")]
    Crashed(String),
    #[error("the parser ran longer than {0} s and was killed")]
    TimedOut(u64),
    #[error("the parser printed more than {0} bytes")]
    OutputTooLarge(usize),
    #[error("the parser refused the input: {0}")]
    Refused(String),
    #[error("cannot start the parser process: {0}")]
    Spawn(String),
}

/// The assay executable that hosts contained parsers. `ASSAY_PARSER_EXE` wins;
/// otherwise the running binary when it is assay, or the assay binary beside a
/// test harness in cargo's target folder.
pub fn parser_exe() -> Result<PathBuf, ContainedError> {
    if let Some(path) = std::env::var_os("ASSAY_PARSER_EXE") {
        return Ok(PathBuf::from(path));
    }
    let me = std::env::current_exe().map_err(|e| ContainedError::Spawn(e.to_string()))?;
    if me.file_stem().is_some_and(|s| s == "assay") {
        return Ok(me);
    }
    let beside = me
        .parent()
        .and_then(|deps| deps.parent())
        .map(|dir| dir.join("assay"));
    match beside {
        Some(path) if path.is_file() => Ok(path),
        _ => Err(ContainedError::Spawn(format!(
            "{} is not assay and no assay binary sits beside it; set ASSAY_PARSER_EXE",
            me.display()
        ))),
    }
}

/// Runs the parser `kind` on `input` in a child process under `limits`.
pub fn run(kind: &str, input: &[u8], limits: &ContainedLimits) -> Result<Vec<u8>, ContainedError> {
    let exe = parser_exe()?;
    let mut child = Command::new(exe)
        .arg("__contained")
        .arg(kind)
        .env("ASSAY_CONTAINED_MEMORY", limits.memory_bytes.to_string())
        .env(
            "ASSAY_CONTAINED_CPU_SECS",
            (limits.timeout.as_secs() + 1).to_string(),
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| ContainedError::Spawn(e.to_string()))?;

    // Writer and readers run beside the wait, so a child that stops reading or
    // floods its output cannot stall the grader.
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let owned = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&owned);
    });
    let cap = limits.max_output_bytes;
    let stdout = child.stdout.take().expect("stdout is piped");
    let reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stdout.take(cap as u64 + 1).read_to_end(&mut buf);
        buf
    });
    let stderr = child.stderr.take().expect("stderr is piped");
    let err_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stderr.take(4096).read_to_end(&mut buf);
        buf
    });

    let status = match child
        .wait_timeout(limits.timeout)
        .map_err(|e| ContainedError::Spawn(e.to_string()))?
    {
        Some(status) => status,
        None => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(ContainedError::TimedOut(limits.timeout.as_secs()));
        }
    };
    let _ = writer.join();
    let out = reader.join().unwrap_or_default();
    let err = String::from_utf8_lossy(&err_reader.join().unwrap_or_default())
        .trim()
        .to_string();
    if out.len() > cap {
        return Err(ContainedError::OutputTooLarge(cap));
    }
    match status.code() {
        Some(0) => Ok(out),
        Some(3) => Err(ContainedError::Refused(err)),
        Some(code) => Err(ContainedError::Crashed(format!(
            "exit code {code}{}",
            tail(&err)
        ))),
        None => {
            use std::os::unix::process::ExitStatusExt;
            let signal = status
                .signal()
                .map(|s| format!("signal {s}"))
                .unwrap_or_else(|| "killed".into());
            Err(ContainedError::Crashed(format!("{signal}{}", tail(&err))))
        }
    }
}

fn tail(stderr: &str) -> String {
    let last = stderr.lines().last().unwrap_or("").trim();
    if last.is_empty() {
        String::new()
    } else {
        format!(": {}", last.chars().take(200).collect::<String>())
    }
}

/// The child's side: applies its own limits, then runs the parser. Returns the
/// process exit code (0 ok, 3 refused input, 4 unknown kind).
pub fn serve(kind: &str) -> i32 {
    if let Some(bytes) = std::env::var("ASSAY_CONTAINED_MEMORY")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        let _ = rlimit::setrlimit(rlimit::Resource::AS, bytes, bytes);
    }
    if let Some(secs) = std::env::var("ASSAY_CONTAINED_CPU_SECS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        let _ = rlimit::setrlimit(rlimit::Resource::CPU, secs, secs);
    }
    let Some((_, parser)) = PARSERS.iter().find(|(k, _)| *k == kind) else {
        eprintln!("no contained parser `{kind}`");
        return 4;
    };
    let mut input = Vec::new();
    if std::io::stdin().read_to_end(&mut input).is_err() {
        return 3;
    }
    match parser(&input) {
        Ok(out) => {
            let mut stdout = std::io::stdout().lock();
            if stdout.write_all(&out).and_then(|_| stdout.flush()).is_err() {
                return 3;
            }
            0
        }
        Err(reason) => {
            eprintln!("{reason}");
            3
        }
    }
}

/// A parser that returns its input; it lets the containment itself be tested
/// without depending on any real parser's bugs.
fn echo(input: &[u8]) -> Result<Vec<u8>, String> {
    match input {
        b"abort" => std::process::abort(),
        b"loop" => loop {
            std::hint::spin_loop();
        },
        b"refuse" => Err("refused on purpose".into()),
        _ => Ok(input.to_vec()),
    }
}
