//! Parsers that can abort the process (tree-sitter-python on some inputs,
//! sqlparser dropping a very deep AST) run here: in a child process of assay
//! itself, with a memory cap, a per-file deadline and a cap on what it may
//! print. A crash costs one file's analysis, never the grader.
//!
//! The child is a long-lived worker (`assay __contained`): starting a process
//! per file cost as much as the parse itself (exec, page faults, dynamic
//! loading, regexes compiled again in every child), so one worker parses file
//! after file over a pipe. A file that crashes the worker or runs past its
//! deadline is that file's failure: the worker is discarded and the next file
//! gets a fresh one. Idle workers wait in a process-wide pool, so a batch
//! grading several submissions at once keeps one worker per busy thread.
//!
//! The pipe carries frames. A request is the parser's kind, the deadline and
//! the input; a reply is a status byte (0 ok, 3 refused, 4 unknown kind) and
//! the payload: the parser's output, or the reason it refused.

use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
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
    /// Address-space cap of the worker, in bytes.
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

/// Kinds are short names from [`PARSERS`]; anything longer is a broken frame.
const MAX_KIND_BYTES: u32 = 64;
/// The analysers cap what they send far below this; it bounds the worker's
/// buffer if a frame is ever corrupt.
const MAX_INPUT_BYTES: u64 = 1 << 30;
/// What is kept of the worker's stderr to explain a crash.
const STDERR_TAIL_BYTES: usize = 4096;

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

/// Idle workers, reused by whichever thread parses next.
static IDLE: Mutex<Vec<Worker>> = Mutex::new(Vec::new());

/// How many workers this process has started; tests read it to show that
/// files share a worker and that a crash costs exactly one restart.
static STARTED: AtomicUsize = AtomicUsize::new(0);

/// Workers started by this process so far.
pub fn workers_started() -> usize {
    STARTED.load(Ordering::Relaxed)
}

/// Runs the parser `kind` on `input` in a contained worker under `limits`.
pub fn run(kind: &str, input: &[u8], limits: &ContainedLimits) -> Result<Vec<u8>, ContainedError> {
    let exe = parser_exe()?;
    let mut worker = match take_idle(&exe, limits.memory_bytes) {
        Some(w) => w,
        None => Worker::start(&exe, limits.memory_bytes)?,
    };
    match worker.call(kind, input, limits) {
        Ok(answer) => {
            if let Ok(mut idle) = IDLE.lock() {
                idle.push(worker);
            }
            answer
        }
        Err(e) => Err(e),
    }
}

/// One input's answer: the parser's output, or why there is none.
pub type Answer = Result<Vec<u8>, ContainedError>;

/// Runs the parser `kind` on every input, on as many workers at once as the
/// machine has cores (at most `MAX_PARALLEL`), answering in the inputs'
/// order. Each input is still its own call: a crash or a deadline costs that
/// input and the worker it ran in, nothing else.
pub fn run_all(kind: &str, inputs: &[Vec<u8>], limits: &ContainedLimits) -> Vec<Answer> {
    let lanes = lanes().min(inputs.len());
    if lanes <= 1 {
        return inputs.iter().map(|i| run(kind, i, limits)).collect();
    }
    let next = AtomicUsize::new(0);
    let answers: Vec<Mutex<Option<Answer>>> = inputs.iter().map(|_| Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..lanes {
            scope.spawn(|| loop {
                let at = next.fetch_add(1, Ordering::Relaxed);
                let Some(input) = inputs.get(at) else { break };
                let answer = run(kind, input, limits);
                if let Ok(mut slot) = answers[at].lock() {
                    *slot = Some(answer);
                }
            });
        }
    });
    answers
        .into_iter()
        .map(|slot| {
            slot.into_inner()
                .ok()
                .flatten()
                .unwrap_or_else(|| Err(ContainedError::Spawn("no answer was recorded".into())))
        })
        .collect()
}

const MAX_PARALLEL: usize = 4;

/// Starts a worker ahead of the first parse when none is idle, so that its
/// start-up (exec, loading, page faults: most of a small grade's parsing
/// cost) runs beside the grader's own work instead of before the first file.
/// Nothing is lost if it is never used: it ends when the grader does.
pub fn prewarm(limits: &ContainedLimits) {
    let Ok(exe) = parser_exe() else { return };
    let Ok(mut idle) = IDLE.lock() else { return };
    let ready = idle
        .iter()
        .filter(|w| w.exe == exe && w.memory_bytes == limits.memory_bytes)
        .count();
    // As many as `run_all` keeps busy.
    for _ in ready..lanes() {
        match Worker::start(&exe, limits.memory_bytes) {
            Ok(w) => idle.push(w),
            Err(_) => return,
        }
    }
}

/// Workers one grade keeps busy at once: one per core, at most
/// `MAX_PARALLEL` (more would only queue on a small machine's cores and
/// hold memory).
fn lanes() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, MAX_PARALLEL)
}

fn take_idle(exe: &Path, memory_bytes: u64) -> Option<Worker> {
    let mut idle = IDLE.lock().ok()?;
    let at = idle
        .iter()
        .position(|w| w.exe == exe && w.memory_bytes == memory_bytes)?;
    Some(idle.swap_remove(at))
}

enum Reply {
    Frame { status: u8, payload: Vec<u8> },
    TooLarge,
    Closed,
}

struct Worker {
    exe: PathBuf,
    memory_bytes: u64,
    child: Child,
    stdin: ChildStdin,
    replies: Receiver<Reply>,
    /// The output cap of the call in progress, read by the reply thread.
    cap: Arc<AtomicUsize>,
    stderr: Arc<Mutex<Vec<u8>>>,
    stderr_reader: Option<JoinHandle<()>>,
}

impl Worker {
    fn start(exe: &Path, memory_bytes: u64) -> Result<Worker, ContainedError> {
        let mut child = Command::new(exe)
            .arg("__contained")
            .env("ASSAY_CONTAINED_MEMORY", memory_bytes.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| ContainedError::Spawn(e.to_string()))?;
        STARTED.fetch_add(1, Ordering::Relaxed);
        let stdin = child.stdin.take().expect("stdin is piped");
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");

        let cap = Arc::new(AtomicUsize::new(0));
        let (tx, replies) = mpsc::channel();
        let reader_cap = Arc::clone(&cap);
        // Replies are read beside the caller's wait, so a worker that floods
        // or stalls can be cut off at the deadline.
        std::thread::spawn(move || {
            let mut out = BufReader::new(stdout);
            loop {
                let mut head = [0u8; 9];
                if out.read_exact(&mut head).is_err() {
                    let _ = tx.send(Reply::Closed);
                    return;
                }
                let status = head[0];
                let len = u64::from_le_bytes(head[1..].try_into().expect("8 bytes"));
                if len > reader_cap.load(Ordering::Relaxed) as u64 {
                    let _ = tx.send(Reply::TooLarge);
                    return;
                }
                let mut payload = vec![0u8; len as usize];
                if out.read_exact(&mut payload).is_err() {
                    let _ = tx.send(Reply::Closed);
                    return;
                }
                if tx.send(Reply::Frame { status, payload }).is_err() {
                    return;
                }
            }
        });
        let tail = Arc::new(Mutex::new(Vec::new()));
        let writer_tail = Arc::clone(&tail);
        let stderr_reader = std::thread::spawn(move || {
            let mut err = stderr;
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                if let Ok(mut t) = writer_tail.lock() {
                    t.extend_from_slice(&buf[..n]);
                    if t.len() > STDERR_TAIL_BYTES {
                        let cut = t.len() - STDERR_TAIL_BYTES;
                        t.drain(..cut);
                    }
                }
            }
        });
        Ok(Worker {
            exe: exe.to_path_buf(),
            memory_bytes,
            child,
            stdin,
            replies,
            cap,
            stderr: tail,
            stderr_reader: Some(stderr_reader),
        })
    }

    /// One file. `Ok` when the worker can parse the next file (the answer may
    /// still be a refusal); `Err` when this file ended the worker.
    fn call(
        &mut self,
        kind: &str,
        input: &[u8],
        limits: &ContainedLimits,
    ) -> Result<Result<Vec<u8>, ContainedError>, ContainedError> {
        self.cap.store(limits.max_output_bytes, Ordering::Relaxed);
        if let Ok(mut t) = self.stderr.lock() {
            t.clear();
        }
        let secs = limits.timeout.as_secs().max(1);
        let mut frame = Vec::with_capacity(input.len() + kind.len() + 20);
        frame.extend_from_slice(&(kind.len() as u32).to_le_bytes());
        frame.extend_from_slice(kind.as_bytes());
        frame.extend_from_slice(&secs.to_le_bytes());
        frame.extend_from_slice(&(input.len() as u64).to_le_bytes());
        frame.extend_from_slice(input);
        // An idle worker is blocked reading its stdin, so this write only
        // fails if the worker is gone; that is read as a crash below.
        let sent = self
            .stdin
            .write_all(&frame)
            .and_then(|_| self.stdin.flush());

        let reply = match sent {
            Ok(()) => self.replies.recv_timeout(limits.timeout),
            Err(_) => Ok(Reply::Closed),
        };
        match reply {
            Ok(Reply::Frame { status: 0, payload }) => Ok(Ok(payload)),
            Ok(Reply::Frame { status: 3, payload }) => Ok(Err(ContainedError::Refused(
                String::from_utf8_lossy(&payload).trim().to_string(),
            ))),
            Ok(Reply::Frame { status, payload }) => {
                let why = String::from_utf8_lossy(&payload).trim().to_string();
                self.end();
                Err(ContainedError::Crashed(format!("status {status}: {why}")))
            }
            Ok(Reply::TooLarge) => {
                self.end();
                Err(ContainedError::OutputTooLarge(limits.max_output_bytes))
            }
            Err(RecvTimeoutError::Timeout) => {
                self.end();
                Err(ContainedError::TimedOut(limits.timeout.as_secs()))
            }
            Ok(Reply::Closed) | Err(RecvTimeoutError::Disconnected) => Err(self.crash()),
        }
    }

    fn end(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The worker is gone: how it ended, with the last line it printed.
    fn crash(&mut self) -> ContainedError {
        let status = match self.child.wait_timeout(Duration::from_secs(5)) {
            Ok(Some(status)) => Some(status),
            _ => {
                self.end();
                None
            }
        };
        if let Some(reader) = self.stderr_reader.take() {
            let _ = reader.join();
        }
        let err = self
            .stderr
            .lock()
            .map(|t| String::from_utf8_lossy(&t).trim().to_string())
            .unwrap_or_default();
        let how = match status {
            Some(s) => match s.code() {
                Some(code) => format!("exit code {code}"),
                None => {
                    use std::os::unix::process::ExitStatusExt;
                    s.signal()
                        .map(|s| format!("signal {s}"))
                        .unwrap_or_else(|| "killed".into())
                }
            },
            None => "stopped answering".into(),
        };
        ContainedError::Crashed(format!("{how}{}", tail(&err)))
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        // A worker that is dropped while idle (its pool gone) or after a
        // failure must not outlive its use.
        let _ = self.child.kill();
        let _ = self.child.wait();
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

/// The worker's side: applies the memory cap, then parses request after
/// request until its stdin closes. Returns the process exit code.
pub fn serve() -> i32 {
    if let Some(bytes) = std::env::var("ASSAY_CONTAINED_MEMORY")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        let _ = rlimit::setrlimit(rlimit::Resource::AS, bytes, bytes);
    }
    let mut stdin = std::io::stdin().lock();
    let mut stdout = std::io::stdout().lock();
    loop {
        let mut len4 = [0u8; 4];
        if stdin.read_exact(&mut len4).is_err() {
            return 0;
        }
        let kind_len = u32::from_le_bytes(len4);
        if kind_len > MAX_KIND_BYTES {
            return 3;
        }
        let mut kind = vec![0u8; kind_len as usize];
        let mut head = [0u8; 16];
        if stdin.read_exact(&mut kind).is_err() || stdin.read_exact(&mut head).is_err() {
            return 3;
        }
        let secs = u64::from_le_bytes(head[..8].try_into().expect("8 bytes"));
        let len = u64::from_le_bytes(head[8..].try_into().expect("8 bytes"));
        if len > MAX_INPUT_BYTES {
            return 3;
        }
        let mut input = vec![0u8; len as usize];
        if stdin.read_exact(&mut input).is_err() {
            return 3;
        }
        // The parent kills a worker at the deadline; the CPU limit ends one
        // that spins after its parent is gone.
        limit_cpu(secs);
        let kind = String::from_utf8_lossy(&kind);
        let (status, payload) = match PARSERS.iter().find(|(k, _)| *k == kind) {
            None => (4u8, format!("no contained parser `{kind}`").into_bytes()),
            Some((_, parser)) => match parser(&input) {
                Ok(out) => (0, out),
                Err(reason) => (3, reason.into_bytes()),
            },
        };
        let mut reply = Vec::with_capacity(payload.len() + 9);
        reply.push(status);
        reply.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        reply.extend_from_slice(&payload);
        if stdout
            .write_all(&reply)
            .and_then(|_| stdout.flush())
            .is_err()
        {
            return 0;
        }
    }
}

/// Sets the soft CPU limit to what this process has used plus `secs` (and a
/// second), so the limit follows each file instead of the worker's lifetime.
fn limit_cpu(secs: u64) {
    let Some(used) = cpu_secs_used() else {
        return;
    };
    if let Ok((_, hard)) = rlimit::getrlimit(rlimit::Resource::CPU) {
        let soft = (used + secs + 1).min(hard);
        let _ = rlimit::setrlimit(rlimit::Resource::CPU, soft, hard);
    }
}

/// User plus system CPU seconds of this process, from /proc (in the kernel's
/// fixed 100 ticks per second).
fn cpu_secs_used() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name may hold spaces; the fields after it do not.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime).div_ceil(100))
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
        b"pid" => Ok(std::process::id().to_string().into_bytes()),
        _ => Ok(input.to_vec()),
    }
}
