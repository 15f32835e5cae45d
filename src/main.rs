//! The command-line edge: argument parsing, exit codes, and anyhow for errors.
//! Exit codes: 0 graded, 1 graded but below the `--fail-under` bar, 2 the grader
//! could not grade, or the grade is incomplete (without `--allow-incomplete`).
#![forbid(unsafe_code)]

use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{CommandFactory, Parser, Subcommand};

use assay::config::Config;
use assay::grade::{self, GradeRequest};
use assay::outdir::Overwrite;
use assay::progress::StageLines;
use assay::report::{Format, Report, Status};
use assay::term::{human, ColorChoice, Term, Verbosity};

/// Scripts and CI read the outcome from the exit code alone.
const EXIT_CODES: &str = "\
Exit codes:
  0  graded (other commands: done; doctor: ready for executed grades)
  1  graded, but the overall score is below --fail-under (calibrate: a band drifted)
  2  not graded: the grader failed, the grade is incomplete, or the input was refused
     (not a submission of the exercise, a bad argument); doctor: something is missing";

#[derive(Parser)]
#[command(
    name = "assay",
    version,
    about = "Grades data-engineering take-home exercises with executed evidence",
    after_help = EXIT_CODES
)]
struct Cli {
    /// Settings file (TOML) overriding the default caps and limits.
    #[arg(long, global = true, env = "ASSAY_CONFIG")]
    config: Option<PathBuf>,
    /// The folder holding the exercise packs (rubric/, fixtures/); overrides
    /// ASSAY_HOME and the packs embedded in assay.
    #[arg(long, global = true, value_name = "DIR")]
    packs: Option<PathBuf>,
    /// Colour: auto (a terminal, unless NO_COLOR is set), always or never.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    color: ColorChoice,
    /// Print only errors and the final summary line(s).
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    quiet: bool,
    /// More detail: every check's outcome, stage start lines, the grader's
    /// log at info (-vv: debug). ASSAY_LOG overrides the log level.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum BatchCommand {
    /// Join the outputs of `--shard` runs into one index.
    Merge {
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum FixturesCommand {
    /// Write the exercise's seeded raw snapshots (S1, S2) and their truth.json.
    Generate {
        #[arg(long, default_value = "marketplace-elt")]
        exercise: String,
        /// 1 gives thousands of orders; 10 and 100 are for benchmarks.
        #[arg(long, default_value_t = 1)]
        scale: u32,
        #[arg(long, default_value_t = assay::generate::DEFAULT_SEED)]
        seed: u64,
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum Command {
    /// Grade one submission and write OUT/<name>/report.json.
    Grade {
        /// A folder, a git repository, an https:// or file:// git URL, or a .zip/.tar.gz archive.
        source: String,
        /// Branch, tag or commit to grade (git sources only).
        #[arg(long = "ref")]
        rev: Option<String>,
        #[arg(long, default_value = "marketplace-elt")]
        exercise: String,
        #[arg(long, default_value = "reports")]
        out: PathBuf,
        /// The report folder's name (default: the source's name and a short hash
        /// of its path or URL and the ref, so grading it again updates its report).
        #[arg(long, value_parser = parse_name)]
        name: Option<String>,
        /// Replace a graded report of another submission that holds the folder.
        #[arg(long)]
        force: bool,
        /// Exit 1 when the overall score is below this bar (0-100).
        #[arg(long)]
        fail_under: Option<f64>,
        /// Skip running the submission in a container; grade from its code alone.
        #[arg(long)]
        no_exec: bool,
        /// Formats to write beside report.json (always written): json, html,
        /// markdown, junit; comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "json,html", value_parser = parse_format)]
        format: Vec<Format>,
        /// Interviewer overrides (TOML: dimension, band, reason, who), shown beside
        /// the automatic bands and kept in report.json.
        #[arg(long)]
        overrides: Option<PathBuf>,
        /// Exit 0 even when the grade is incomplete (the grader could not run
        /// the submission, or could not decide some criteria); without it an
        /// incomplete grade exits 2.
        #[arg(long)]
        allow_incomplete: bool,
        /// The dbt project to grade when the submission holds several: its
        /// folder (or its dbt_project.yml) relative to the submission's root.
        /// Without it, the one with the most models the candidate wrote.
        #[arg(long)]
        project: Option<String>,
    },
    /// Render a report.json again: other formats, or with interviewer overrides.
    Render {
        /// The report.json written by `assay grade`.
        report: PathBuf,
        /// Formats to write beside it; `-` as --out prints one format to stdout.
        #[arg(long, value_delimiter = ',', default_value = "html", value_parser = parse_format)]
        format: Vec<Format>,
        #[arg(long)]
        overrides: Option<PathBuf>,
        /// Folder to write into (default: the report's own folder), or `-` for stdout.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Grade many submissions listed in a manifest (TOML or CSV), resumably.
    #[command(args_conflicts_with_subcommands = true)]
    Batch {
        #[command(subcommand)]
        merge: Option<BatchCommand>,
        /// The manifest: `[[submission]]` entries with id, source and optional ref.
        manifest: Option<PathBuf>,
        #[arg(long, default_value = "reports/batch")]
        out: PathBuf,
        /// Submissions run in containers at once (static analysis uses every core).
        #[arg(long, default_value_t = 1)]
        jobs: usize,
        /// Grade only shard I of N (1-based), for a CI matrix.
        #[arg(long)]
        shard: Option<String>,
        /// Regrade submissions whose report is up to date.
        #[arg(long)]
        force: bool,
        /// Skip running the submissions in containers; grade from their code alone.
        #[arg(long)]
        no_exec: bool,
        #[arg(long, default_value = "marketplace-elt")]
        exercise: String,
        /// Wall-clock limit per submission, in seconds.
        #[arg(long, default_value_t = 3600)]
        timeout: u64,
    },
    /// Grade every reference solution and compare its bands with expected.toml; exit 1 on drift.
    Calibrate {
        #[arg(long, default_value = "marketplace-elt")]
        exercise: String,
        /// Grade from the code alone: bands only, hidden-check expectations are not compared.
        #[arg(long)]
        no_exec: bool,
        /// Where the reference solutions' reports go.
        #[arg(long, default_value = "reports/calibration")]
        out: PathBuf,
    },
    /// Exercise data: seeded snapshots with known right answers.
    Fixtures {
        #[command(subcommand)]
        command: FixturesCommand,
    },
    /// List every check.
    Checks,
    /// Print a check's documentation.
    Explain { check: String },
    /// List the exercise packs (rubric/<id>.toml, fixtures/<id>/) assay can grade.
    Exercises,
    /// Check what an executed grade needs: Docker engine, runner image, root,
    /// data cache, the rubrics; exit 0 when ready, 2 when something is missing.
    Doctor,
    /// Print the JSON Schema of report.json.
    Schema,
    /// Print a shell completion script: `assay completions bash > /etc/bash_completion.d/assay`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Internal: a contained parser worker on stdin and stdout (see src/contained.rs).
    #[command(name = "__contained", hide = true)]
    Contained,
}

fn parse_format(name: &str) -> Result<Format, String> {
    Format::parse(name).ok_or_else(|| {
        format!(
            "unknown format `{name}`; one of {}",
            Format::ALL.map(|f| f.name()).join(", ")
        )
    })
}

fn parse_name(name: &str) -> Result<String, String> {
    assay::outdir::check_name(name).map(|()| name.to_string())
}

/// Set once standard output's reader has gone (`assay render … | head`).
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// Prints to standard output. A closed pipe silences the rest of the output
/// instead of crashing: the command finishes and exits with its own code.
fn emit(text: &str) -> Result<()> {
    if STDOUT_CLOSED.load(Ordering::Relaxed) {
        return Ok(());
    }
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == ErrorKind::BrokenPipe => {
            STDOUT_CLOSED.store(true, Ordering::Relaxed);
            Ok(())
        }
        other => other.context("cannot write to standard output"),
    }
}

/// `emit` with a line end.
fn emitln(text: &str) -> Result<()> {
    emit(&format!("{text}\n"))
}

/// A message on one line of a list.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The last line of `assay grade`'s summary: the time spent, split between
/// dbt and the grader when the submission ran.
fn time_line(total: Duration, dbt_secs: Option<f64>) -> String {
    match dbt_secs {
        Some(dbt) => {
            let dbt = Duration::try_from_secs_f64(dbt)
                .unwrap_or_default()
                .min(total);
            format!(
                "time: {} (dbt {}, grader {})",
                human(total),
                human(dbt),
                human(total - dbt)
            )
        }
        None => format!("time: {}", human(total)),
    }
}

fn main() -> ExitCode {
    // A contained parser child must not set up logging or read configuration.
    let args: Vec<String> = std::env::args().collect();
    if args.len() == 2 && args[1] == "__contained" {
        return ExitCode::from(assay::contained::serve() as u8);
    }
    let cli = Cli::parse();
    let verbosity = if cli.quiet {
        Verbosity::Quiet
    } else if cli.verbose > 0 {
        Verbosity::Verbose
    } else {
        Verbosity::Normal
    };
    let term = Term::detect(cli.color, verbosity);
    let level = match (cli.quiet, cli.verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, _) => "debug",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ASSAY_LOG")
                .unwrap_or_else(|_| level.into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(term.stderr.on())
        .init();
    match run(cli, term) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("assay: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli, term: Term) -> Result<ExitCode> {
    if let Some(dir) = cli.packs.clone() {
        assay::packs::set_dir(dir);
    }
    let config = match &cli.config {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    // One runtime for the whole command: the execution stage runs its Docker
    // calls on it, and the Ctrl-C handler that removes sandboxes lives on it.
    let rt = tokio::runtime::Runtime::new()?;
    let _entered = rt.enter();
    let executes = match &cli.command {
        Command::Grade { no_exec, .. }
        | Command::Calibrate { no_exec, .. }
        | Command::Batch { no_exec, .. } => !*no_exec,
        _ => false,
    };
    // One Ctrl-C handler: the sandbox's when an engine is there (it also removes
    // the acquisition folders), otherwise the acquisition's own.
    let docker = if executes {
        // Without an engine there is no sandbox to clean up; the stage says why.
        rt.block_on(assay::execute::docker::connect()).ok()
    } else {
        None
    };
    match docker {
        Some(docker) => assay::execute::docker::install_interrupt_cleanup(docker),
        None => assay::acquire::install_interrupt_cleanup(),
    }
    match cli.command {
        Command::Grade {
            source,
            rev,
            exercise,
            out,
            name,
            force,
            fail_under,
            no_exec,
            format,
            overrides,
            allow_incomplete,
            project,
        } => {
            if let Some(bar) = fail_under {
                if !(0.0..=100.0).contains(&bar) {
                    bail!("--fail-under takes a score from 0 to 100");
                }
            }
            let started = Instant::now();
            let req = GradeRequest {
                source,
                rev,
                exercise,
                out_dir: out,
                config,
                no_exec,
                name,
                overwrite: if force {
                    Overwrite::AnySource
                } else {
                    Overwrite::SameSource
                },
                formats: format,
                overrides,
                project,
            };
            let progress = StageLines::new(term);
            let graded = grade::grade_observed(&req, &progress);
            progress.finish();
            let graded = graded.context("grading failed")?;
            if let Some(kept) = &graded.kept {
                eprintln!(
                    "assay: this grade failed; the graded report {} was kept, and this one was written beside it as {}",
                    kept.display(),
                    graded.report_path.display()
                );
            }
            // The page an interviewer opens, when it was written.
            let shown = graded
                .written
                .iter()
                .find(|p| p.file_name() == Some(std::ffi::OsStr::new(Format::Html.file_name())))
                .unwrap_or(&graded.report_path);
            let shown = shown.display().to_string();
            emit(&if term.quiet() {
                assay::report::quiet_summary(&graded.report, &shown, term.stdout)
            } else {
                assay::report::terminal_summary_with(
                    &graded.report,
                    &shown,
                    &assay::report::Style {
                        paint: term.stdout,
                        all_checks: term.verbose(),
                    },
                )
            })?;
            emitln(&time_line(started.elapsed(), graded.dbt_secs))?;
            if graded.report.status == Status::Error {
                return Ok(ExitCode::from(2));
            }
            if graded.report.status == Status::Incomplete && !allow_incomplete {
                emitln(
                    "incomplete grade: exit 2 (pass --allow-incomplete to accept a grade the grader could not finish)",
                )?;
                return Ok(ExitCode::from(2));
            }
            if let (Some(bar), Some(score)) = (fail_under, graded.report.overall.score) {
                if score < bar {
                    emitln(&format!("below the bar: {score:.1} < {bar:.1}"))?;
                    return Ok(ExitCode::from(1));
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Batch {
            merge,
            manifest,
            out,
            jobs,
            shard,
            force,
            no_exec,
            exercise,
            timeout,
        } => {
            let outcome = match (merge, manifest) {
                (Some(BatchCommand::Merge { dirs, out }), _) => assay::batch::merge(&dirs, &out)?,
                (None, Some(manifest)) => {
                    let opts = assay::batch::BatchOptions {
                        manifest,
                        out,
                        jobs,
                        shard,
                        force,
                        no_exec,
                        exercise,
                        config,
                        submission_timeout: std::time::Duration::from_secs(timeout),
                        term,
                    };
                    rt.block_on(assay::batch::run(opts))?
                }
                (None, None) => bail!("give a manifest, or `assay batch merge DIR... --out DIR`"),
            };
            emitln(&format!(
                "{} graded, {} unchanged, {} incomplete (graded again next run), {} could not be graded",
                outcome.graded, outcome.skipped, outcome.incomplete, outcome.errors,
            ))?;
            if !term.quiet() && !outcome.rows.is_empty() {
                emit(&assay::batch::table(
                    &outcome.rows,
                    &outcome.unchanged,
                    term.stdout,
                ))?;
            }
            for (id, why) in &outcome.failures {
                emitln(&format!("  could not be graded: {id}: {}", one_line(why)))?;
            }
            emitln(&format!("index: {}", outcome.index.display()))?;
            Ok(if outcome.errors > 0 || outcome.incomplete > 0 {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Calibrate {
            exercise,
            no_exec,
            out,
        } => {
            let progress = StageLines::new(term);
            let cal = assay::calibrate::calibrate(&exercise, &config, no_exec, &out, &progress);
            progress.finish();
            let cal = cal?;
            emit(&assay::calibrate::table(&cal))?;
            Ok(if cal.drift.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Fixtures {
            command:
                FixturesCommand::Generate {
                    exercise,
                    scale,
                    seed,
                    out,
                },
        } => {
            let opts = assay::generate::GenerateOptions {
                exercise,
                scale,
                seed,
                out_dir: out,
            };
            let summary = assay::generate::generate(&opts)?;
            emitln(&format!(
                "wrote {} files for {} (seed {}, scale {}) to {}",
                summary.files.len(),
                summary.exercise,
                summary.seed,
                summary.scale,
                summary.out_dir.display()
            ))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Render {
            report,
            format,
            overrides,
            out,
        } => {
            let text = std::fs::read_to_string(&report)
                .with_context(|| format!("cannot read {}", report.display()))?;
            let mut parsed: Report = serde_json::from_str(&text)
                .with_context(|| format!("{} is not a report.json", report.display()))?;
            if let Some(path) = overrides {
                let inputs = assay::report::overrides::load(&path)?;
                let exercise = assay::exercise::Exercise::locate(&parsed.exercise)?;
                let rubric = grade::load_rubric(&exercise)?;
                assay::report::overrides::apply(&mut parsed, &inputs, &rubric.band_labels)?;
            }
            if out.as_deref() == Some(Path::new("-")) {
                let [one] = format.as_slice() else {
                    bail!("printing to stdout takes exactly one --format");
                };
                emit(&one.render(&parsed)?)?;
                return Ok(ExitCode::SUCCESS);
            }
            let dir = out.unwrap_or_else(|| {
                report
                    .parent()
                    .map(|p| p.to_path_buf())
                    .unwrap_or_else(|| PathBuf::from("."))
            });
            for path in assay::report::write_formats(&parsed, &dir, &format)? {
                emitln(&path.display().to_string())?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Checks => {
            for check in assay::checks::all() {
                let meta = check.meta();
                let unused = assay::checks::UNUSED_BY_RUBRIC
                    .iter()
                    .any(|(id, _)| *id == meta.id);
                emitln(&format!(
                    "{:<32} {:<10} {}{}",
                    meta.id,
                    meta.confidence.as_str(),
                    meta.title,
                    if unused { "  (not scored)" } else { "" }
                ))?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Explain { check } => {
            let Some(found) = assay::checks::find(&check) else {
                let ids = assay::checks::all().iter().map(|c| c.meta().id);
                let close = assay::suggest::closest(&check, ids);
                bail!(
                    "no check `{check}`.{} `assay checks` lists them all",
                    assay::suggest::did_you_mean(&close)
                );
            };
            let meta = found.meta();
            emitln(&format!(
                "# {} — {}\n\nconfidence: {}\n\n{}",
                meta.id,
                meta.title,
                meta.confidence.as_str(),
                meta.doc_markdown()
            ))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Exercises => {
            let home = assay::exercise::home()?;
            let listed = assay::exercise::list_in(&home)
                .with_context(|| format!("cannot read {}", home.join("rubric").display()))?;
            if listed.is_empty() {
                bail!(
                    "no exercise in {}: --packs DIR or ASSAY_HOME names the folder that holds rubric/ and fixtures/",
                    home.display()
                );
            }
            for ex in listed {
                let title = ex.title.as_deref().unwrap_or("(no starter/EXERCISE.md)");
                let pack = if ex.has_pack {
                    String::new()
                } else {
                    format!("  (no fixtures/{}/: static checks only)", ex.id)
                };
                emitln(&format!("{:<24} {title}{pack}", ex.id))?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Doctor => {
            let packs = assay::packs::source();
            let diagnosis = rt.block_on(assay::doctor::diagnose(&config, packs.as_ref()));
            for line in &diagnosis.lines {
                emitln(&format!(
                    "{:<8} {:<14} {}",
                    line.state.as_str(),
                    line.name,
                    line.detail
                ))?;
            }
            if diagnosis.ready() {
                emitln("ready for executed grades")?;
                Ok(ExitCode::SUCCESS)
            } else {
                emitln(&format!(
                    "not ready for executed grades: {}; `assay grade --no-exec` still grades from the code alone",
                    diagnosis.blockers().join(", ")
                ))?;
                Ok(ExitCode::from(2))
            }
        }
        Command::Schema => {
            emit(&assay::report::json_schema())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "assay", &mut script);
            emit(&String::from_utf8_lossy(&script))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Contained => Ok(ExitCode::from(assay::contained::serve() as u8)),
    }
}
