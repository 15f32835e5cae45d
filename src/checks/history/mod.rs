//! Checks over the history of the work: how the candidate worked, not only what
//! they handed in. With git history the commits tell it; without (a folder, an
//! archive, one squashed commit) the profiling files and a work log do, and the
//! commit checks are not applicable.

mod commit_cadence;
mod exploration_first;
mod tests_with_models;
mod work_log;

pub use commit_cadence::CommitCadence;
pub use exploration_first::ExplorationFirst;
pub use tests_with_models::TestsWithModels;
pub use work_log::WorkLog;
