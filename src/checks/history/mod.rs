//! Checks over the commit history: how the candidate worked, not only what they
//! handed in. A submission without usable history makes these not applicable.

mod commit_cadence;
mod exploration_first;
mod tests_with_models;

pub use commit_cadence::CommitCadence;
pub use exploration_first::ExplorationFirst;
pub use tests_with_models::TestsWithModels;
