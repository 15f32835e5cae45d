//! How much of an executed grade is the grader's own work and how much is dbt.
//! Runs the execution stage on a submission (default: the strong reference
//! solution) and prints where the wall-clock time went. Not a timed test: a
//! measurement to read, e.g. after changing the runner or the stage.
//!
//! ```sh
//! cargo bench --bench exec_overhead                     # strong solution, 1 run
//! cargo bench --bench exec_overhead -- PATH 3           # PATH, 3 runs
//! ```
//!
//! Needs a running Docker engine; the first run may build the runner image.

use std::path::PathBuf;

use assay::config::Config;
use assay::execute::stage::{self, StageInput};
use assay::execute::workloads::dbt::HiddenChecks;
use assay::execute::ExecStatus;
use assay::exercise::Exercise;
use assay::inventory::Inventory;

fn main() {
    // `cargo bench` passes `--bench`; everything else is ours.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let source = args.first().map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("reference-solutions/marketplace-elt/strong")
    });
    let runs: usize = args.get(1).and_then(|n| n.parse().ok()).unwrap_or(1);
    let exercise = Exercise::locate_in(
        &PathBuf::from(env!("CARGO_MANIFEST_DIR")),
        "marketplace-elt",
    )
    .expect("the marketplace-elt pack");
    let hidden = HiddenChecks::load_for(&exercise.pack_dir).expect("the pack's hidden checks load");
    let inventory = Inventory::build(&source).expect("the submission can be listed");
    let config = Config::default();

    println!(
        "{:>3} {:>7} {:>7} {:>7} {:>7} {:>7} {:>8} {:>8} {:>8} {:>7} {:>8} {:>8} {:>7}",
        "run",
        "connect",
        "image",
        "data",
        "start",
        "upload",
        "builds",
        "dbt",
        "checks",
        "cleanup",
        "total",
        "overhead",
        "of dbt"
    );
    for run in 1..=runs {
        let facts = stage::run(&StageInput {
            exercise: &exercise,
            hidden: hidden.as_ref(),
            submission_root: &source,
            inventory: &inventory,
            packages: &[],
            config: &config,
            observer: &assay::progress::Silent,
        });
        if let ExecStatus::Unavailable { reason } = &facts.status {
            panic!("the execution stage did not run: {reason}");
        }
        let t = &facts.timings;
        let overhead = t.total_secs - t.dbt_secs;
        println!(
            "{run:>3} {:>7.2} {:>7.2} {:>7.2} {:>7.2} {:>7.2} {:>8.2} {:>8.2} {:>8.2} {:>7.2} {:>8.2} {:>8.2} {:>6.1}%",
            t.connect_secs,
            t.image_secs,
            t.data_secs,
            t.sandbox_start_secs,
            t.upload_secs,
            t.build_phase_secs,
            t.dbt_secs,
            t.check_phase_secs,
            t.cleanup_secs,
            t.total_secs,
            overhead,
            100.0 * overhead / t.dbt_secs.max(1e-9)
        );
    }
    println!(
        "\nbuilds = the three dbt phases (raw load + dbt + artifacts); dbt = dbt's own time in them;\n\
         checks = the hidden-check query steps; overhead = total - dbt (everything assay adds),\n\
         shown as a share of dbt's own time."
    );
}
