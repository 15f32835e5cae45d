//! The containment of crash-prone parsers: an abort, an endless loop or a refusal
//! in the child comes back as a typed error, and the grader carries on.

use std::time::Duration;

use assay::contained::{run, ContainedError, ContainedLimits};

fn limits() -> ContainedLimits {
    std::env::set_var("ASSAY_PARSER_EXE", env!("CARGO_BIN_EXE_assay"));
    ContainedLimits {
        timeout: Duration::from_secs(3),
        ..ContainedLimits::default()
    }
}

#[test]
fn output_comes_back_from_the_child() {
    assert_eq!(run("echo", b"hello", &limits()).unwrap(), b"hello");
}

#[test]
fn an_abort_is_a_crash_not_the_end_of_the_grader() {
    let err = run("echo", b"abort", &limits()).unwrap_err();
    assert!(
        matches!(err, ContainedError::Crashed(ref what) if what.contains("signal 6")),
        "{err:?}"
    );
}

#[test]
fn an_endless_parser_is_killed() {
    assert_eq!(
        run("echo", b"loop", &limits()).unwrap_err(),
        ContainedError::TimedOut(3)
    );
}

#[test]
fn a_refusal_carries_its_reason() {
    assert_eq!(
        run("echo", b"refuse", &limits()).unwrap_err(),
        ContainedError::Refused("refused on purpose".into())
    );
}

#[test]
fn flooding_output_is_capped() {
    let mut l = limits();
    l.max_output_bytes = 10;
    assert_eq!(
        run("echo", &[b'x'; 1000], &l).unwrap_err(),
        ContainedError::OutputTooLarge(10)
    );
}
