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

/// Many files at once, across several workers: every answer comes back in
/// the order asked, and an abort or a refusal costs only its own file.
#[test]
fn files_parsed_side_by_side_answer_in_order_and_fail_alone() {
    let _one = serial();
    let mut inputs: Vec<Vec<u8>> = (0..40).map(|i| format!("file {i}").into_bytes()).collect();
    inputs[7] = b"abort".to_vec();
    inputs[23] = b"refuse".to_vec();
    let answers = assay::contained::run_all("echo", &inputs, &limits());
    assert_eq!(answers.len(), inputs.len());
    for (i, answer) in answers.iter().enumerate() {
        match i {
            7 => assert!(
                matches!(answer, Err(ContainedError::Crashed(_))),
                "{answer:?}"
            ),
            23 => assert!(
                matches!(answer, Err(ContainedError::Refused(_))),
                "{answer:?}"
            ),
            _ => assert_eq!(answer.as_deref().unwrap(), inputs[i].as_slice()),
        }
    }
    // The workers are shared across the files (one per lane, from the pool
    // other tests may have filled), not one per file.
    let pids: std::collections::BTreeSet<String> =
        assay::contained::run_all("echo", &vec![b"pid".to_vec(); 20], &limits())
            .into_iter()
            .map(|a| String::from_utf8(a.unwrap()).unwrap())
            .collect();
    assert!(
        !pids.is_empty() && pids.len() <= 5,
        "{} workers for 20 files",
        pids.len()
    );
}
