//! The containment of crash-prone parsers: an abort, an endless loop or a refusal
//! in the child comes back as a typed error, and the grader carries on.

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use assay::contained::{run, ContainedError, ContainedLimits};

/// Workers are pooled per process: tests that count them run one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// The process id of the worker that parses the next file.
fn worker_pid() -> String {
    String::from_utf8(run("echo", b"pid", &limits()).unwrap()).unwrap()
}

fn limits() -> ContainedLimits {
    std::env::set_var("ASSAY_PARSER_EXE", env!("CARGO_BIN_EXE_assay"));
    ContainedLimits {
        timeout: Duration::from_secs(3),
        ..ContainedLimits::default()
    }
}

#[test]
fn output_comes_back_from_the_child() {
    let _one = serial();
    assert_eq!(run("echo", b"hello", &limits()).unwrap(), b"hello");
}

#[test]
fn an_abort_is_a_crash_not_the_end_of_the_grader() {
    let _one = serial();
    let err = run("echo", b"abort", &limits()).unwrap_err();
    assert!(
        matches!(err, ContainedError::Crashed(ref what) if what.contains("signal 6")),
        "{err:?}"
    );
}

#[test]
fn an_endless_parser_is_killed() {
    let _one = serial();
    assert_eq!(
        run("echo", b"loop", &limits()).unwrap_err(),
        ContainedError::TimedOut(3)
    );
}

#[test]
fn a_refusal_carries_its_reason() {
    let _one = serial();
    assert_eq!(
        run("echo", b"refuse", &limits()).unwrap_err(),
        ContainedError::Refused("refused on purpose".into())
    );
}

#[test]
fn flooding_output_is_capped() {
    let _one = serial();
    let mut l = limits();
    l.max_output_bytes = 10;
    assert_eq!(
        run("echo", &[b'x'; 1000], &l).unwrap_err(),
        ContainedError::OutputTooLarge(10)
    );
}

#[test]
fn one_worker_parses_file_after_file_and_a_crash_costs_only_that_file() {
    let _one = serial();
    let first = worker_pid();
    for _ in 0..50 {
        assert_eq!(worker_pid(), first, "files share one worker");
    }
    // A refusal is an answer: the worker goes on.
    assert!(matches!(
        run("echo", b"refuse", &limits()),
        Err(ContainedError::Refused(_))
    ));
    assert_eq!(worker_pid(), first);

    // An abort ends that worker: the file is a crash, the next file is parsed
    // by a fresh worker.
    let _ = serial_abort();
    let second = worker_pid();
    assert_ne!(second, first);
    assert_eq!(run("echo", b"next", &limits()).unwrap(), b"next");

    // So does a file past its deadline.
    assert_eq!(
        run("echo", b"loop", &limits()).unwrap_err(),
        ContainedError::TimedOut(3)
    );
    let third = worker_pid();
    assert_ne!(third, second);
    assert_eq!(worker_pid(), third);
}

fn serial_abort() -> ContainedError {
    let err = run("echo", b"abort", &limits()).unwrap_err();
    assert!(matches!(err, ContainedError::Crashed(_)), "{err:?}");
    err
}
