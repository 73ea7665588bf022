//! `tessera-load`: load a running `tessera serve` on a loopback address and print one
//! markdown table row (or `wait` for it to answer).

use std::io::Read as _;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand, ValueEnum};
use tessera_bench::http::Connection;
use tessera_bench::load::{Credentials, Plan, Report, Scenario, run};

/// Load generator for `tessera serve` (loopback only).
#[derive(Parser)]
#[command(name = "tessera-load", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run one scenario and print a markdown table row with its numbers.
    #[command(
        after_help = "Example:\n  printf '%s' \"$PASSWORD\" | tessera-load run --addr 127.0.0.1:8080 \
        --scenario me --username bench --password-stdin --server-pid \"$PID\""
    )]
    Run(RunArgs),
    /// Wait until the server answers GET /.well-known/jwks.json with 200, within a bound.
    Wait {
        /// The server's address (loopback).
        #[arg(long)]
        addr: SocketAddr,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 30)]
        timeout_secs: u64,
    },
    /// Print the header of the table `run` prints rows of.
    Header,
    /// Serve the floor: an empty axum server answering a fixed `/me`-sized body, printing
    /// `listening ADDR` once bound. Runs until stopped.
    Floor {
        /// Where to listen (loopback; port 0 picks a free one).
        #[arg(long, default_value = "127.0.0.1:0")]
        addr: SocketAddr,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum ScenarioArg {
    /// GET /me with one access token.
    Me,
    /// POST /auth/refresh, one rotating session per connection.
    Refresh,
    /// POST /auth/login.
    Login,
    /// GET /me without logging in, against `tessera-load floor`.
    Floor,
}

#[derive(clap::Args)]
struct RunArgs {
    /// The server's address (loopback only).
    #[arg(long)]
    addr: SocketAddr,
    /// What to send.
    #[arg(long, value_enum)]
    scenario: ScenarioArg,
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Length of the measured phase, seconds.
    #[arg(long, default_value_t = 5.0)]
    duration_secs: f64,
    /// Stop after this many measured requests.
    #[arg(long, default_value_t = 10_000_000)]
    max_requests: u64,
    /// The user to log in as.
    #[arg(long, default_value = "bench")]
    username: String,
    /// Read the password from standard input (the only way: never on the command line).
    /// Needed by every scenario but `floor`.
    #[arg(long)]
    password_stdin: bool,
    /// The server's process id: report the CPU time it spent per request.
    #[arg(long)]
    server_pid: Option<u32>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Floor { addr } = cli.command {
        return floor(addr);
    }
    // One thread: the generator must leave the cores to the server it measures.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = match cli.command {
        Command::Header => {
            println!("{}", header());
            Ok(())
        }
        Command::Wait { addr, timeout_secs } => {
            runtime.block_on(wait(addr, Duration::from_secs(timeout_secs)))
        }
        Command::Run(args) => runtime.block_on(load(args)),
        Command::Floor { .. } => Ok(()),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The floor server runs on tokio's multi-thread scheduler, as `tessera serve` does.
fn floor(addr: SocketAddr) -> ExitCode {
    if !addr.ip().is_loopback() {
        eprintln!("error: refusing {addr}: only loopback addresses are allowed");
        return ExitCode::FAILURE;
    }
    let served = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .and_then(|runtime| runtime.block_on(tessera_bench::floor::serve(addr)));
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: floor server: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn wait(addr: SocketAddr, timeout: Duration) -> Result<(), String> {
    if !addr.ip().is_loopback() {
        return Err(format!(
            "refusing {addr}: only loopback addresses are allowed"
        ));
    }
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(mut conn) = Connection::connect(addr).await
            && let Ok(answer) = conn.send("GET", "/.well-known/jwks.json", &[], b"").await
            && answer.status == 200
        {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!("{addr} did not answer within {timeout:?}"));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn load(args: RunArgs) -> Result<(), String> {
    let mut password = String::new();
    if args.password_stdin {
        std::io::stdin()
            .read_to_string(&mut password)
            .map_err(|e| format!("reading the password: {e}"))?;
    }
    let password = password.trim_end_matches(['\r', '\n']);
    if password.is_empty() && !matches!(args.scenario, ScenarioArg::Floor) {
        return Err("this scenario logs in: pass --password-stdin with the password".into());
    }
    if !(args.duration_secs > 0.0 && args.duration_secs <= 600.0) {
        return Err("--duration-secs must be within (0, 600]".into());
    }
    let plan = Plan {
        addr: args.addr,
        scenario: match args.scenario {
            ScenarioArg::Me => Scenario::Me,
            ScenarioArg::Refresh => Scenario::Refresh,
            ScenarioArg::Login => Scenario::Login,
            ScenarioArg::Floor => Scenario::Floor,
        },
        connections: args.connections,
        duration: Duration::from_secs_f64(args.duration_secs),
        max_requests: args.max_requests,
        server_pid: args.server_pid,
    };
    let credentials = Credentials::new(args.username, password);
    let report = run(&plan, &credentials).await.map_err(|e| e.to_string())?;
    println!("{}", row(&report));
    if let Some(first) = &report.first_error {
        eprintln!(
            "{}: {} errors; the first: {first}",
            report.scenario.as_str(),
            report.errors
        );
    }
    Ok(())
}

fn header() -> String {
    "| endpoint | conns | ok | errors | s | req/s | p50 µs | p99 µs | server CPU µs/req | \
     req/s per server core | load CPU µs/req |\n\
     |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        .to_owned()
}

fn per_request_us(cpu: Option<Duration>, requests: u64) -> Option<f64> {
    cpu.filter(|_| requests > 0)
        .map(|c| c.as_secs_f64() * 1e6 / requests as f64)
}

fn row(report: &Report) -> String {
    let server = per_request_us(report.server_cpu, report.ok);
    let client = per_request_us(report.load_cpu, report.ok);
    let show = |v: Option<f64>| v.map_or_else(|| "—".to_owned(), |v| format!("{v:.1}"));
    let per_core = server
        .filter(|us| *us > 0.0)
        .map_or_else(|| "—".to_owned(), |us| format!("{:.0}", 1e6 / us));
    format!(
        "| {} | {} | {} | {} | {:.1} | {:.0} | {} | {} | {} | {} | {} |",
        report.scenario.as_str(),
        report.connections,
        report.ok,
        report.errors,
        report.elapsed.as_secs_f64(),
        report.rate(),
        report.quantile_us(0.50),
        report.quantile_us(0.99),
        show(server),
        per_core,
        show(client),
    )
}
