//! The admin commands: users, sessions, token inspection, keys, and a one-shot authorizer.

use std::io::Read;
use std::path::{Path, PathBuf};

use tessera_authorizer::{Authorizer, Verdict};
use tessera_keys::KeyFile;
use tessera_service::{Password, Username, hash_password_blocking, system_now};
use tessera_store::{SessionStore, User, UserStatus, UserStore};
use tessera_token::{Algorithm, KeySet, RefreshPolicy, SecretValue, VerifyPolicy, random_id};

use crate::error::CliError;
use crate::setup::{self, open_store};
use crate::with_store;
use crate::{SessionCommand, UserCommand};

/// Passwords shorter than this are refused (NIST SP 800-63B's floor for chosen secrets).
pub const MIN_PASSWORD_CHARS: usize = 8;

/// `tessera user ...`.
pub async fn user(command: UserCommand) -> Result<(), CliError> {
    match command {
        UserCommand::Add {
            username,
            scope,
            store,
            ..
        } => {
            let username = Username::parse(&username)?;
            let password = read_password()?;
            let scope = normalise_scope(&scope)?;
            let hash = hash_password_blocking(password).await?;
            let now = system_now();
            let user = User {
                user_id: random_id(),
                username: username.as_str().to_owned(),
                password_hash: hash,
                scope,
                status: UserStatus::Active,
                revoked_before: 0,
                created_at: now,
                updated_at: now,
            };
            let store = open_store(&store).await?;
            let created = with_store!(store, s => s.create_user(&user).await);
            match created {
                Ok(()) => {
                    println!("created user {} ({})", user.username, user.user_id);
                    Ok(())
                }
                Err(tessera_store::StoreError::AlreadyExists) => Err(CliError::Usage(format!(
                    "user {} already exists",
                    user.username
                ))),
                Err(e) => Err(e.into()),
            }
        }
        UserCommand::List { store } => {
            let store = open_store(&store).await?;
            let users = with_store!(store, s => s.list_users().await)?;
            println!("{:<24} {:<24} {:<9} SCOPE", "USERNAME", "USER ID", "STATUS");
            for u in users {
                let status = match u.status {
                    UserStatus::Active => "active",
                    UserStatus::Disabled => "disabled",
                };
                println!(
                    "{:<24} {:<24} {:<9} {}",
                    u.username, u.user_id, status, u.scope
                );
            }
            Ok(())
        }
        UserCommand::Disable { username, store } => {
            set_status(&username, UserStatus::Disabled, &store).await?;
            println!("disabled {username}; all its sessions are revoked");
            Ok(())
        }
        UserCommand::Enable { username, store } => {
            set_status(&username, UserStatus::Active, &store).await?;
            println!("enabled {username}");
            Ok(())
        }
        UserCommand::SetPassword {
            username, store, ..
        } => {
            let username = Username::parse(&username)?;
            let password = read_password()?;
            let hash = hash_password_blocking(password).await?;
            let store = open_store(&store).await?;
            with_store!(store, s => s.set_password(username.as_str(), &hash, system_now()).await)
                .map_err(not_found_user(username.as_str()))?;
            println!(
                "password changed for {}; all its sessions are revoked",
                username.as_str()
            );
            Ok(())
        }
    }
}

async fn set_status(
    username: &str,
    status: UserStatus,
    store: &crate::StoreArgs,
) -> Result<(), CliError> {
    let username = Username::parse(username)?;
    let store = open_store(store).await?;
    with_store!(store, s => s.set_status(username.as_str(), status, system_now()).await)
        .map_err(not_found_user(username.as_str()))
}

fn not_found_user(username: &str) -> impl Fn(tessera_store::StoreError) -> CliError + '_ {
    move |e| match e {
        tessera_store::StoreError::NotFound => CliError::Usage(format!("no user {username}")),
        e => e.into(),
    }
}

/// `tessera session ...`.
pub async fn session(command: SessionCommand) -> Result<(), CliError> {
    match command {
        SessionCommand::List { username, store } => {
            let username = Username::parse(&username)?;
            let store = open_store(&store).await?;
            let sessions = with_store!(store, s => {
                match s.get_user_by_username(username.as_str()).await? {
                    Some(user) => s.list_user_sessions(&user.user_id, system_now()).await?,
                    None => return Err(CliError::Usage(format!("no user {}", username.as_str()))),
                }
            });
            println!(
                "{:<24} {:<12} {:<12} {:<12} {:<16} USER AGENT",
                "SID", "CREATED", "LAST USED", "EXPIRES", "SOURCE IP"
            );
            for s in sessions {
                println!(
                    "{:<24} {:<12} {:<12} {:<12} {:<16} {}",
                    s.sid,
                    s.created_at,
                    s.last_used_at,
                    s.expires_at.min(s.idle_expires_at),
                    s.source_ip.as_deref().unwrap_or("-"),
                    s.user_agent.as_deref().unwrap_or("-"),
                );
            }
            Ok(())
        }
        SessionCommand::Revoke { sid, store } => {
            let store = open_store(&store).await?;
            let revoked = with_store!(store, s => s.revoke_session(&sid, system_now()).await)?;
            if revoked {
                println!("revoked session {sid}");
            } else {
                println!("no live session {sid}; nothing changed");
            }
            Ok(())
        }
    }
}

/// The token for `tessera token inspect -`, from standard input (surrounding whitespace,
/// such as the newline `echo` adds, is not part of it).
pub fn read_token() -> Result<String, CliError> {
    let mut text = String::new();
    std::io::stdin().read_to_string(&mut text)?;
    let token = text.trim();
    if token.is_empty() {
        return Err(CliError::Usage(
            "no token on standard input (`tessera token inspect -` reads it there)".into(),
        ));
    }
    Ok(token.to_owned())
}

/// `tessera token inspect`: shows the header and claims (unverified, clearly marked), then
/// verifies against the local keys and says why it fails.
pub fn inspect(token: &str, data: &Path) -> Result<(), CliError> {
    let unverified = tessera_token::dangerous::decode(token)
        .map_err(|e| CliError::Usage(format!("not a JWT we can read: {e}")))?;
    let header = serde_json::Value::Object(unverified.header);
    let claims = serde_json::Value::Object(unverified.claims);
    println!("header (unverified): {header}");
    println!("claims (unverified): {claims}");
    let keys = local_keys(data)?;
    let config = setup::config(None)?;
    let text = |key: &str| claims.get(key).and_then(|v| v.as_str()).map(str::to_owned);
    // Without ISSUER/AUDIENCE set, check the token against its own iss/aud, so the answer
    // is about signature, type and time rather than about this shell's environment.
    let issuer = std::env::var("ISSUER")
        .ok()
        .or_else(|| text("iss"))
        .unwrap_or(config.verify.issuer);
    let audience = std::env::var("AUDIENCE")
        .ok()
        .or_else(|| text("aud"))
        .unwrap_or(config.verify.audience);
    let now = system_now();
    let verdict = if header.get("typ").and_then(|t| t.as_str()) == Some("rt+jwt") {
        let mut policy = RefreshPolicy::new(issuer);
        policy.leeway_secs = config.verify.leeway_secs;
        keys.refresh_verifier(policy)
            .verify(token, now)
            .map(|_| "a valid refresh token")
    } else {
        let mut policy = VerifyPolicy::new(issuer, audience);
        policy.leeway_secs = config.verify.leeway_secs;
        keys.access_verifier(policy)
            .verify(token, now)
            .map(|_| "a valid access token")
    };
    match verdict {
        Ok(kind) => {
            println!("verified: {kind}");
            Ok(())
        }
        Err(e) => Err(CliError::Usage(format!("token does not verify: {e}"))),
    }
}

/// `tessera keys rotate`.
pub fn rotate_keys(data: &Path) -> Result<(), CliError> {
    let alg = setup::config(None)?.verify.alg;
    let versions = KeyFile::rotate(&existing_key_file(data)?, alg)?;
    let keys = versions.key_set(alg)?;
    println!(
        "new current key {} ({}); {} previous kept for verification",
        keys.current_kid().as_str(),
        alg.as_str(),
        versions.previous.len()
    );
    println!("a running `tessera serve` keeps signing with its loaded key until restarted");
    Ok(())
}

/// `tessera keys generate`.
pub fn generate_secret(alg: &str) -> Result<(), CliError> {
    let alg: Algorithm = alg.parse().map_err(|_| {
        CliError::Usage(format!(
            "unknown algorithm {alg}: ES256, EdDSA, RS256 or HS256"
        ))
    })?;
    let secret = match alg {
        Algorithm::Rs256 => {
            SecretValue::generate_with_rsa().map_err(tessera_keys::KeysError::from)?
        }
        _ => SecretValue::generate(),
    };
    // The one place a secret is printed, on purpose: the user asked for it, to store it.
    println!("{}", secret.expose_secret());
    Ok(())
}

/// `tessera authorize --event FILE`.
pub fn authorize(event: &Path, data: &Path) -> Result<(), CliError> {
    let bytes = std::fs::read(event)?;
    let config = setup::config(None)?;
    let keys = local_keys(data)?;
    let authorizer = Authorizer::new(
        keys.access_verifier(setup::verify_policy(&config)),
        setup::scope_rules()?,
    );
    let ruling = authorizer.authorize(&bytes, system_now());
    match &ruling.answer {
        Ok(answer) => {
            let pretty =
                serde_json::to_string_pretty(answer).map_err(|e| CliError::Usage(e.to_string()))?;
            println!("{pretty}");
        }
        Err(_) => println!("error: Unauthorized (API Gateway answers 401)"),
    }
    match ruling.verdict {
        Verdict::Allow => eprintln!("verdict: allow"),
        Verdict::Forbidden { missing_scope } => {
            eprintln!("verdict: forbidden (missing scope {missing_scope})")
        }
        Verdict::Unauthorized(reason) => eprintln!("verdict: unauthorized ({reason})"),
    }
    Ok(())
}

fn local_keys(data: &Path) -> Result<KeySet, CliError> {
    let alg = setup::config(None)?.verify.alg;
    Ok(KeyFile::load(&existing_key_file(data)?)?.key_set(alg)?)
}

/// The key file in `data`, which `tessera serve` creates: the admin commands never make one.
fn existing_key_file(data: &Path) -> Result<PathBuf, CliError> {
    let path = setup::key_file(data);
    if !path.exists() {
        return Err(CliError::Usage(format!(
            "no key file at {} (tessera serve creates it on first start)",
            path.display()
        )));
    }
    Ok(path)
}

fn read_password() -> Result<Password, CliError> {
    let mut text = String::new();
    std::io::stdin().read_to_string(&mut text)?;
    // One trailing newline is how `echo` and a terminal end the input, not part of it.
    let trimmed = text
        .strip_suffix("\r\n")
        .or_else(|| text.strip_suffix('\n'))
        .unwrap_or(&text);
    if trimmed.chars().count() < MIN_PASSWORD_CHARS {
        return Err(CliError::Usage(format!(
            "password must be at least {MIN_PASSWORD_CHARS} characters"
        )));
    }
    Ok(Password::parse(trimmed.to_owned())?)
}

fn normalise_scope(scope: &str) -> Result<String, CliError> {
    let parts: Vec<&str> = scope.split_whitespace().collect();
    // RFC 6749 §3.3: scope tokens are printable ASCII except space, '"' and '\'.
    let valid = |s: &&str| {
        s.bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
    };
    if let Some(bad) = parts.iter().find(|s| !valid(s)) {
        return Err(CliError::Usage(format!("invalid scope token {bad:?}")));
    }
    Ok(parts.join(" "))
}

/// `tessera routes`: the one route table, or the function binaries.
pub fn routes(functions: bool) {
    if functions {
        for function in tessera_service::Function::ALL {
            println!("{}", function.binary());
        }
        return;
    }
    println!(
        "{:<7} {:<36} {:<20} AUTHORIZER",
        "METHOD", "PATH", "FUNCTION"
    );
    for route in tessera_service::ROUTES {
        println!(
            "{:<7} {:<36} {:<20} {}",
            route.method,
            route.path,
            route.function.binary(),
            if route.protected { "yes" } else { "no" }
        );
    }
}
