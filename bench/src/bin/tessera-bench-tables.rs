//! `tessera-bench-tables`: print the criterion tables of BENCHMARKS.md (token verify per
//! algorithm against the raw primitive, authorizer decision per event against verify) from
//! the estimates criterion saved in its output folder.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use tessera_bench::tables::{decision_table, token_table};

/// Print the criterion tables with ratios and budgets.
#[derive(Parser)]
#[command(name = "tessera-bench-tables", version, about)]
struct Cli {
    /// criterion's output folder (`target/criterion` of the workspace).
    #[arg(long, default_value = "target/criterion")]
    criterion: PathBuf,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if !cli.criterion.is_dir() {
        eprintln!(
            "error: {} is not a folder; run the benches first",
            cli.criterion.display()
        );
        return ExitCode::FAILURE;
    }
    println!("Token verify (signature + exp + iss + aud) per algorithm, medians:\n");
    println!("{}", token_table(&cli.criterion));
    println!("Authorizer decision (event JSON in -> response JSON out), medians:\n");
    println!("{}", decision_table(&cli.criterion));
    ExitCode::SUCCESS
}
