//! `tessera`: run the whole service on one machine (`serve`), and administer users,
//! sessions and keys, against the embedded store or DynamoDB.
//!
//! The binary is thin: it parses arguments, builds the store and keys once, and calls the
//! shared crates. Every command works against the embedded store while `serve` runs on the
//! same data folder (SQLite in WAL mode; the key file is replaced atomically).

mod admin;
mod error;
mod metrics;
mod serve;
mod setup;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

/// A request through `tessera serve` allocates a few dozen small objects, freed on another
/// worker as often as not; glibc's malloc was a tenth of the server's CPU per request
/// (BENCHMARKS.md), mimalloc's thread-local free lists cost much less.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Tessera: login, refresh with rotation, logout, sessions and an API Gateway authorizer,
/// here on one machine.
#[derive(Parser)]
#[command(name = "tessera", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve every endpoint on one port, behind the real authorizer.
    #[command(
        after_help = "Example:\n  tessera serve --addr 127.0.0.1:8080 --data ./.tessera\n\n\
        Configuration comes from the same environment variables as the Lambda functions:\n\
        ISSUER (default http://ADDR), AUDIENCE (default tessera), ACCESS_TOKEN_TTL,\n\
        REFRESH_TOKEN_TTL, REFRESH_IDLE_TTL, REFRESH_REUSE_GRACE, ACCESS_TOKEN_ALG,\n\
        AUTHORIZER_SCOPE_RULES.\n\n\
        Durations are in seconds; decimals are allowed (0.5)."
    )]
    Serve(ServeArgs),
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Inspect and revoke refresh sessions.
    #[command(subcommand)]
    Session(SessionCommand),
    /// Decode and verify a token against the local keys.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Manage signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Run the authorizer on an API Gateway authorizer event and print its answer.
    #[command(
        after_help = "Example:\n  tessera authorize --event events/authorizer-rest-token.json\n\n\
            The token is checked against the keys in --data and against ISSUER and AUDIENCE\n\
            (defaults http://127.0.0.1:8080 and tessera: what `tessera serve` uses on its\n\
            default address; export them for a server on another address)."
    )]
    Authorize {
        /// The event file (REST TOKEN, REST REQUEST or HTTP API 2.0 authorizer event).
        #[arg(long)]
        event: PathBuf,
        /// The data folder holding the key file.
        #[arg(long, default_value = "./.tessera")]
        data: PathBuf,
    },
    /// Print the route table: every route, the function that serves it, and whether the
    /// authorizer runs first (template.yaml declares exactly these).
    #[command(
        after_help = "Example:\n  tessera routes\n  tessera routes --functions   # one function binary per line"
    )]
    Routes {
        /// Print the function binaries instead, one per line.
        #[arg(long)]
        functions: bool,
    },
}

/// Where users and sessions live.
#[derive(Args, Clone)]
struct StoreArgs {
    /// The data folder for the embedded store and the key file.
    #[arg(long, default_value = "./.tessera")]
    data: PathBuf,
    /// Use DynamoDB at this endpoint (DynamoDB Local) instead of the embedded store.
    #[arg(long, requires = "table")]
    dynamodb_endpoint: Option<String>,
    /// The DynamoDB table; without --dynamodb-endpoint, the table in your AWS account.
    #[arg(long)]
    table: Option<String>,
    /// Create the DynamoDB table when it does not exist.
    #[arg(long, requires = "table")]
    create_table: bool,
}

#[derive(Args)]
struct ServeArgs {
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    #[command(flatten)]
    store: StoreArgs,
    /// Put the authorizer in front of this API: authorised requests to any other path are
    /// proxied there with the authorizer context in x-tessera-* headers.
    #[arg(long)]
    upstream: Option<String>,
    /// Close a connection whose request head is not complete this long after it opened, or
    /// after the first byte of a later request on it.
    #[arg(long, value_name = "SECONDS", default_value = "10", value_parser = seconds)]
    header_timeout: Duration,
    /// Answer 408 to a request whose body has not arrived this long after its head.
    #[arg(long, value_name = "SECONDS", default_value = "30", value_parser = seconds)]
    body_timeout: Duration,
    /// Close a keep-alive connection silent this long between requests, or whose client has
    /// read nothing of an answer for this long.
    #[arg(long, value_name = "SECONDS", default_value = "60", value_parser = seconds)]
    idle_timeout: Duration,
    /// Serve at most this many connections at once; more wait to be accepted.
    #[arg(long, value_name = "N", default_value = "1024", value_parser = connections)]
    max_connections: usize,
    /// Answer 502 when --upstream does not accept a connection within this long.
    #[arg(long, value_name = "SECONDS", default_value = "5", value_parser = seconds)]
    upstream_connect_timeout: Duration,
    /// Answer 504 when --upstream has not answered in full within this long (API Gateway's
    /// integration timeout is 29 s).
    #[arg(long, value_name = "SECONDS", default_value = "29", value_parser = seconds)]
    upstream_timeout: Duration,
    /// Answer 502 when an --upstream answer body is larger than this (API Gateway's payload
    /// limit is 10 MiB).
    #[arg(long, value_name = "BYTES", default_value = "10485760", value_parser = response_bytes)]
    upstream_max_response_bytes: usize,
    /// Log one line per request to stderr: method, path (never the query), status, latency.
    /// Off by default, as API Gateway's access logging is; what the use cases decide (logins,
    /// refreshes, revocations, refused tokens) is logged either way.
    #[arg(long)]
    access_log: bool,
    /// Do not answer GET /metrics. By default it is answered, to clients on loopback only,
    /// in Prometheus text format: every decision by use case and outcome, and its latency.
    #[arg(long)]
    no_metrics: bool,
}

/// The longest duration a flag takes: a day.
const MAX_SECONDS: f64 = 86_400.0;

/// A duration flag: seconds, more than 0 and at most a day, decimals allowed.
fn seconds(text: &str) -> Result<Duration, String> {
    text.trim()
        .parse::<f64>()
        .ok()
        .filter(|s| *s > 0.0 && *s <= MAX_SECONDS)
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .ok_or_else(|| {
            format!("expected seconds above 0 and at most {MAX_SECONDS}, e.g. 10 or 0.5")
        })
}

/// `--max-connections`: 1 to 1,000,000 (each holds a file descriptor).
fn connections(text: &str) -> Result<usize, String> {
    text.trim()
        .parse::<usize>()
        .ok()
        .filter(|n| (1..=1_000_000).contains(n))
        .ok_or_else(|| "expected a whole number from 1 to 1000000".to_owned())
}

/// `--upstream-max-response-bytes`: at least 1 byte.
fn response_bytes(text: &str) -> Result<usize, String> {
    text.trim()
        .parse::<usize>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| "expected a whole number of bytes above 0".to_owned())
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user; the password is read from standard input.
    #[command(
        after_help = "Example:\n  printf '%s' 'correct horse battery staple' | tessera user add alice --password-stdin --scope \"profile admin\""
    )]
    Add {
        /// The username (normalised: trimmed, lower case).
        username: String,
        /// Read the password from standard input (the only way: never on the command line).
        #[arg(long, required = true)]
        password_stdin: bool,
        /// Space-separated scopes granted to the user's tokens.
        #[arg(long, default_value = "profile")]
        scope: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// List users.
    #[command(after_help = "Example:\n  tessera user list")]
    List {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Disable a user and revoke all their sessions.
    #[command(after_help = "Example:\n  tessera user disable alice")]
    Disable {
        /// The username.
        username: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Re-enable a disabled user.
    #[command(after_help = "Example:\n  tessera user enable alice")]
    Enable {
        /// The username.
        username: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Set a new password (read from standard input) and revoke all the user's sessions.
    #[command(
        after_help = "Example:\n  printf '%s' 'a new long password' | tessera user set-password alice --password-stdin"
    )]
    SetPassword {
        /// The username.
        username: String,
        /// Read the password from standard input.
        #[arg(long, required = true)]
        password_stdin: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Subcommand)]
enum SessionCommand {
    /// List a user's live sessions.
    #[command(after_help = "Example:\n  tessera session list alice")]
    List {
        /// The username.
        username: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Revoke one session (its refresh token stops working at once).
    #[command(after_help = "Example:\n  tessera session revoke 3q2-7wQ1x0a9bK1nZc4Y1w")]
    Revoke {
        /// The session id (`sid`). Ids are base64url, so one may begin with `-`.
        #[arg(allow_hyphen_values = true)]
        sid: String,
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Decode a token, verify it against the local keys and say why it fails.
    #[command(
        after_help = "Example:\n  printf '%s' \"$ACCESS\" | tessera token inspect -\n\n\
        With `-` the token is read from standard input, which keeps it out of `ps` and the\n\
        shell history."
    )]
    Inspect {
        /// The access or refresh token, or `-` to read it from standard input.
        token: String,
        /// The data folder holding the key file.
        #[arg(long, default_value = "./.tessera")]
        data: PathBuf,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Make a new current signing key; the previous ones keep verifying.
    #[command(after_help = "Example:\n  tessera keys rotate --data ./.tessera")]
    Rotate {
        /// The data folder holding the key file.
        #[arg(long, default_value = "./.tessera")]
        data: PathBuf,
    },
    /// Print a fresh secret value for the Secrets Manager secret (for RS256, which needs an
    /// RSA key that cannot be derived). Treat the output as a secret.
    #[command(
        after_help = "Example:\n  tessera keys generate --alg RS256 > secret.json\n  \
        aws secretsmanager put-secret-value --secret-id ARN --secret-string file://secret.json"
    )]
    Generate {
        /// The access token algorithm the secret is for.
        #[arg(long, default_value = "ES256")]
        alg: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> Result<(), error::CliError> {
    match command {
        Command::Serve(args) => {
            let _flushed_at_exit = setup::init_tracing();
            serve::serve(args).await
        }
        Command::User(cmd) => admin::user(cmd).await,
        Command::Session(cmd) => admin::session(cmd).await,
        Command::Token(TokenCommand::Inspect { token, data }) => {
            let token = if token == "-" {
                admin::read_token()?
            } else {
                token
            };
            admin::inspect(&token, &data)
        }
        Command::Keys(KeysCommand::Rotate { data }) => admin::rotate_keys(&data),
        Command::Keys(KeysCommand::Generate { alg }) => admin::generate_secret(&alg),
        Command::Authorize { event, data } => admin::authorize(&event, &data),
        Command::Routes { functions } => {
            admin::routes(functions);
            Ok(())
        }
    }
}
