//! `tessera`: run the whole service on one machine (`serve`), and administer users,
//! sessions and keys, against the embedded store or DynamoDB.
//!
//! The binary is thin: it parses arguments, builds the store and keys once, and calls the
//! shared crates. Every command works against the embedded store while `serve` runs on the
//! same data folder (SQLite in WAL mode; the key file is replaced atomically).

mod admin;
mod gateway;
mod serve;
mod setup;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

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
        AUTHORIZER_SCOPE_RULES."
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
        /// The session id (`sid`).
        sid: String,
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Decode a token, verify it against the local keys and say why it fails.
    #[command(after_help = "Example:\n  tessera token inspect eyJhbGciOi...")]
    Inspect {
        /// The access or refresh token.
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

async fn run(command: Command) -> Result<(), setup::CliError> {
    match command {
        Command::Serve(args) => {
            setup::init_tracing();
            setup::serve(args).await
        }
        Command::User(cmd) => admin::user(cmd).await,
        Command::Session(cmd) => admin::session(cmd).await,
        Command::Token(TokenCommand::Inspect { token, data }) => admin::inspect(&token, &data),
        Command::Keys(KeysCommand::Rotate { data }) => admin::rotate_keys(&data),
        Command::Keys(KeysCommand::Generate { alg }) => admin::generate_secret(&alg),
        Command::Authorize { event, data } => admin::authorize(&event, &data),
    }
}
