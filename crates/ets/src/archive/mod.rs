//! `ets export --project P --to DIR` and `ets import DIR` (issue 17): a project — its
//! experiments, runs, logged models, every metric point, log line and artifact — in an open
//! format of JSON lines and plain files (`docs/archive-format.md`), and back, with the same
//! ids and times, on either database.
//!
//! Both work on the database and artifact store the configuration names (`--data-dir`,
//! `--database-url`, `--config`, as `ets serve`), safely while servers run on it: the command
//! line is trusted, as for `ets users` (whoever runs it can read the database).

pub mod export;
pub mod format;
pub mod import;

use std::path::PathBuf;

use serde::Serialize;

/// `ets export`'s arguments.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// The project, by id or name.
    #[arg(long, value_name = "PROJECT")]
    pub project: String,
    /// The folder to write (created; must be empty if it exists).
    #[arg(long, value_name = "DIR")]
    pub to: PathBuf,
    /// Print the summary as one JSON object on standard output.
    #[arg(long)]
    pub json: bool,
}

/// What an export wrote, or an import read (the counts of the archive's manifest).
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct Counts {
    pub experiments: u64,
    pub runs: u64,
    pub logged_models: u64,
    pub metric_points: u64,
    pub log_lines: u64,
    pub artifacts: u64,
    pub artifact_bytes: u64,
}

/// Prints counts as a summary, or as one JSON object with `--json`.
pub fn print_summary(counts: &Counts, extra: &[(&str, serde_json::Value)], json: bool) {
    if json {
        let mut object = serde_json::to_value(counts).unwrap_or_default();
        for (name, value) in extra {
            object[*name] = value.clone();
        }
        println!("{object}");
        return;
    }
    println!(
        "experiments: {}\nruns: {}\nlogged models: {}\nmetric points: {}\nlog lines: {}\n\
         artifacts: {} files, {} bytes",
        counts.experiments,
        counts.runs,
        counts.logged_models,
        counts.metric_points,
        counts.log_lines,
        counts.artifacts,
        counts.artifact_bytes
    );
    for (name, value) in extra {
        println!("{}: {value}", name.replace('_', " "));
    }
}
