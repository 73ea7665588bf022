//! The embedded adapter: one SQLite file.
//!
//! rusqlite is synchronous, so every call runs on tokio's blocking pool over one connection
//! behind a mutex. The file is opened in WAL mode with a busy timeout, so another process (the
//! `tessera` CLI while a server runs) can write to the same file: writers queue on SQLite's
//! lock, readers never block. Every read-modify-write runs in one `IMMEDIATE` transaction,
//! which takes the write lock up front, so two writers never interleave between the read and
//! the write.
//!
//! Durability: the file runs with `synchronous=NORMAL` (a commit does not wait for fsync),
//! which keeps rotations fast and loses nothing when the process dies; an OS crash or power
//! loss may roll back the last commits. A revocation must never be rolled back, so every
//! transaction that revokes (logout, revoke, revoke-all, disable, a new password, reuse
//! detection, a revocation by the watermark or the session cap) commits with
//! `synchronous=FULL` instead, and returns only once the WAL is on disk.
//!
//! Files: the database and its `-wal` and `-shm` files are private to the user (0600),
//! whatever the folder's mode (SQLite gives the journal files the database file's mode).

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::types::FromSql;
use rusqlite::{Connection, ErrorCode, Row, Transaction, TransactionBehavior};

use crate::model::{Charge, next_watermark};
use crate::rotation::{Verdict, judge, next_idle_expiry};
use crate::{
    AttemptTicket, LockoutPolicy, LoginAttempt, LoginAttempts, NewSession, RotateOutcome, Rotation,
    Session, SessionCreated, SessionStore, StoreError, User, UserStatus, UserStore,
};

/// How long a writer waits for another connection's write lock before giving up with
/// [`StoreError::Unavailable`].
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The schema version this code writes; `PRAGMA user_version` records what a file has.
const SCHEMA_VERSION: i64 = 2;

/// Migrations from version `i` to `i + 1`, applied in order inside one transaction.
const MIGRATIONS: &[&str] = &[
    // 0 -> 1: users and sessions.
    "CREATE TABLE users (
        username        TEXT PRIMARY KEY NOT NULL,
        user_id         TEXT NOT NULL UNIQUE,
        password_hash   TEXT NOT NULL,
        scope           TEXT NOT NULL,
        status          TEXT NOT NULL,
        failed_attempts INTEGER NOT NULL,
        locked_until    INTEGER,
        created_at      INTEGER NOT NULL,
        updated_at      INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE sessions (
        sid             TEXT PRIMARY KEY NOT NULL,
        user_id         TEXT NOT NULL,
        username        TEXT NOT NULL,
        scope           TEXT NOT NULL,
        client_id       TEXT NOT NULL,
        current_hash    TEXT NOT NULL,
        previous_hash   TEXT,
        rotated_at      INTEGER,
        generation      INTEGER NOT NULL,
        created_at      INTEGER NOT NULL,
        last_used_at    INTEGER NOT NULL,
        expires_at      INTEGER NOT NULL,
        idle_expires_at INTEGER NOT NULL,
        user_agent      TEXT,
        source_ip       TEXT,
        revoked         INTEGER NOT NULL,
        revoked_at      INTEGER
    ) STRICT;
    CREATE INDEX sessions_by_user ON sessions (user_id, created_at);",
    // 1 -> 2: the revocation watermark on users and sessions; login attempts counted per
    // username (user or not) in a table of their own instead of on the user.
    "ALTER TABLE users ADD COLUMN revoked_before INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE users DROP COLUMN failed_attempts;
    ALTER TABLE users DROP COLUMN locked_until;
    ALTER TABLE sessions ADD COLUMN watermark INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE login_attempts (
        username        TEXT PRIMARY KEY NOT NULL,
        attempts        INTEGER NOT NULL,
        last_at         INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX login_attempts_by_time ON login_attempts (last_at);",
];

const USER_COLUMNS: &str = "user_id, username, password_hash, scope, status, revoked_before, \
                            created_at, updated_at";

const SESSION_COLUMNS: &str = "sid, user_id, username, scope, client_id, current_hash, \
                               previous_hash, rotated_at, generation, created_at, last_used_at, \
                               expires_at, idle_expires_at, user_agent, source_ip, revoked, \
                               watermark";

/// Whether a transaction's commit must reach the disk before it returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Durability {
    /// `synchronous=NORMAL`: may be rolled back by a power loss, never by a crash.
    Normal,
    /// `synchronous=FULL`: on disk when the call returns. Every revocation.
    Full,
}

/// Users and sessions in one SQLite file. Cheap to clone (the clones share the connection).
#[derive(Clone, Debug)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
}

impl SqliteStore {
    /// Opens (or creates) the database file: WAL mode, busy timeout, schema migrated to the
    /// current version. Blocking; call it at start-up.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        create_private(path)?;
        let mut conn = Connection::open(path).map_err(map_err)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(map_err)?;
        // journal_mode answers with the mode now in force; anything but "wal" (an in-memory
        // database, a file system without shared memory) would silently lose concurrency.
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
            .map_err(map_err)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Internal(format!(
                "sqlite refused WAL mode (journal_mode is {mode})"
            )));
        }
        // NORMAL: in WAL mode a commit no longer waits for fsync (the WAL is synced at each
        // checkpoint instead). The file stays consistent and nothing is lost when the process
        // dies; an OS crash or power loss may roll back the last commits, which revocations
        // never accept: they commit with FULL (see the module docs).
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(map_err)?;
        migrate(&mut conn)?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Runs `f` with the connection on the blocking pool.
    async fn with_conn<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            let mut guard = conn
                .lock()
                .map_err(|_| StoreError::Internal("sqlite connection mutex poisoned".into()))?;
            f(&mut guard)
        })
        .await
        .map_err(|e| StoreError::Internal(format!("sqlite task failed: {e}")))?
    }

    /// Runs `f` inside one `IMMEDIATE` transaction, committed when `f` succeeds, at
    /// `synchronous=NORMAL`.
    async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        self.write_with(Durability::Normal, f).await
    }

    /// [`Self::write`] committed at `synchronous=FULL`: for every revocation.
    async fn write_durable<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        self.write_with(Durability::Full, f).await
    }

    async fn write_with<T, F>(&self, durability: Durability, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        self.with_conn(move |conn| {
            // The level cannot change inside a transaction; the connection is ours alone
            // (behind the mutex) until this closure returns, so setting it around the
            // transaction affects exactly this commit.
            if durability == Durability::Full {
                conn.pragma_update(None, "synchronous", "FULL")
                    .map_err(map_err)?;
            }
            let result = (|| {
                let tx = conn
                    .transaction_with_behavior(TransactionBehavior::Immediate)
                    .map_err(map_err)?;
                let value = f(&tx)?;
                tx.commit().map_err(map_err)?;
                Ok(value)
            })();
            if durability == Durability::Full {
                conn.pragma_update(None, "synchronous", "NORMAL")
                    .map_err(map_err)?;
            }
            result
        })
        .await
    }
}

/// Creates the database file with mode 0600 if it does not exist, and narrows an existing
/// one to 0600: SQLite then gives its `-wal` and `-shm` files the same mode.
fn create_private(path: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let file_error =
        |e: std::io::Error| StoreError::Internal(format!("database file {}: {e}", path.display()));
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map_err(file_error)?;
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
        .map_err(file_error)?;
    for suffix in ["-wal", "-shm"] {
        let mut journal = path.as_os_str().to_owned();
        journal.push(suffix);
        match std::fs::set_permissions(&journal, std::fs::Permissions::from_mode(0o600)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(file_error(e)),
        }
    }
    Ok(())
}

/// Brings the schema to [`SCHEMA_VERSION`]; safe when two processes open a new file at once
/// (the write lock serialises them and the second sees the first one's version).
fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(map_err)?;
    let version: i64 = tx
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(map_err)?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::Internal(format!(
            "database schema version {version} is newer than this build ({SCHEMA_VERSION})"
        )));
    }
    let pending = MIGRATIONS
        .iter()
        .skip(usize::try_from(version).unwrap_or(usize::MAX));
    for sql in pending {
        tx.execute_batch(sql).map_err(map_err)?;
    }
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)
        .map_err(map_err)?;
    tx.commit().map_err(map_err)
}

/// Busy and locked mean another writer held the lock past the timeout: retryable. A taken
/// primary key or unique value means the record exists already.
fn map_err(e: rusqlite::Error) -> StoreError {
    if let rusqlite::Error::SqliteFailure(failure, _) = &e
        && matches!(
            failure.extended_code,
            rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY | rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
        )
    {
        return StoreError::AlreadyExists;
    }
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
            StoreError::unavailable(format!("sqlite busy: {e}"))
        }
        _ => StoreError::Internal(format!("sqlite: {e}")),
    }
}

fn corrupt(column: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("column {column}: {e}"))
}

/// One column of a row; a NULL in a NOT NULL field or a wrong type names the column.
fn get<T: FromSql>(row: &Row<'_>, index: usize, column: &str) -> Result<T, StoreError> {
    row.get(index).map_err(|e| corrupt(column, e))
}

fn read_user(row: &Row<'_>) -> Result<User, StoreError> {
    let status: String = get(row, 4, "status")?;
    Ok(User {
        user_id: get(row, 0, "user_id")?,
        username: get(row, 1, "username")?,
        password_hash: get(row, 2, "password_hash")?,
        scope: get(row, 3, "scope")?,
        status: status.parse()?,
        revoked_before: get(row, 5, "revoked_before")?,
        created_at: get(row, 6, "created_at")?,
        updated_at: get(row, 7, "updated_at")?,
    })
}

fn read_session(row: &Row<'_>) -> Result<Session, StoreError> {
    let generation: i64 = get(row, 8, "generation")?;
    Ok(Session {
        sid: get(row, 0, "sid")?,
        user_id: get(row, 1, "user_id")?,
        username: get(row, 2, "username")?,
        scope: get(row, 3, "scope")?,
        client_id: get(row, 4, "client_id")?,
        current_hash: get(row, 5, "current_hash")?,
        previous_hash: get(row, 6, "previous_hash")?,
        rotated_at: get(row, 7, "rotated_at")?,
        generation: u64::try_from(generation).map_err(|e| corrupt("generation", e))?,
        created_at: get(row, 9, "created_at")?,
        last_used_at: get(row, 10, "last_used_at")?,
        expires_at: get(row, 11, "expires_at")?,
        idle_expires_at: get(row, 12, "idle_expires_at")?,
        user_agent: get(row, 13, "user_agent")?,
        source_ip: get(row, 14, "source_ip")?,
        revoked: get(row, 15, "revoked")?,
        watermark: get(row, 16, "watermark")?,
    })
}

/// Collects rows through a fallible mapper that returns [`StoreError`].
fn collect<T>(
    stmt: &mut rusqlite::Statement<'_>,
    params: impl rusqlite::Params,
    read: fn(&Row<'_>) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let mut rows = stmt.query(params).map_err(map_err)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(map_err)? {
        out.push(read(row)?);
    }
    Ok(out)
}

fn user_by_name(conn: &Connection, username: &str) -> Result<Option<User>, StoreError> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE username = ?1");
    let mut stmt = conn.prepare(&sql).map_err(map_err)?;
    let mut users = collect(&mut stmt, [username], read_user)?;
    Ok(users.pop())
}

fn session_by_sid(conn: &Connection, sid: &str) -> Result<Option<Session>, StoreError> {
    let sql = format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE sid = ?1");
    let mut stmt = conn.prepare(&sql).map_err(map_err)?;
    let mut sessions = collect(&mut stmt, [sid], read_session)?;
    Ok(sessions.pop())
}

fn user_by_id(conn: &Connection, user_id: &str) -> Result<Option<User>, StoreError> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE user_id = ?1");
    let mut stmt = conn.prepare(&sql).map_err(map_err)?;
    let mut users = collect(&mut stmt, [user_id], read_user)?;
    Ok(users.pop())
}

/// Moves the user's watermark past every session created so far, inside the caller's
/// transaction; returns the user as it was before.
fn move_watermark(tx: &Transaction<'_>, username: &str, now: i64) -> Result<User, StoreError> {
    let user = user_by_name(tx, username)?.ok_or(StoreError::NotFound)?;
    tx.execute(
        "UPDATE users SET revoked_before = ?2 WHERE username = ?1",
        rusqlite::params![username, next_watermark(user.revoked_before, now)],
    )
    .map_err(map_err)?;
    Ok(user)
}

fn attempts_of(conn: &Connection, username: &str) -> Result<Option<LoginAttempts>, StoreError> {
    let mut stmt = conn
        .prepare("SELECT attempts, last_at FROM login_attempts WHERE username = ?1")
        .map_err(map_err)?;
    let mut rows = stmt.query([username]).map_err(map_err)?;
    match rows.next().map_err(map_err)? {
        Some(row) => Ok(Some(LoginAttempts {
            attempts: get(row, 0, "attempts")?,
            last_at: get(row, 1, "last_at")?,
        })),
        None => Ok(None),
    }
}

fn reset_attempts(conn: &Connection, username: &str) -> Result<(), StoreError> {
    conn.execute("DELETE FROM login_attempts WHERE username = ?1", [username])
        .map_err(map_err)?;
    Ok(())
}

/// Revokes `sid` inside the caller's transaction.
fn revoke_in(conn: &Connection, sid: &str, now: i64) -> Result<bool, StoreError> {
    let changed = conn
        .execute(
            "UPDATE sessions SET revoked = 1, revoked_at = ?2 WHERE sid = ?1 AND revoked = 0",
            rusqlite::params![sid, now],
        )
        .map_err(map_err)?;
    Ok(changed > 0)
}

/// The user's sessions that are live and accepted by `user` at `now`, oldest first.
fn accepted_sessions(conn: &Connection, user: &User, now: i64) -> Result<Vec<Session>, StoreError> {
    let sql = format!(
        "SELECT {SESSION_COLUMNS} FROM sessions
         WHERE user_id = ?1 AND revoked = 0 AND expires_at > ?2 AND idle_expires_at > ?2
           AND watermark >= ?3
         ORDER BY created_at, sid"
    );
    let mut stmt = conn.prepare(&sql).map_err(map_err)?;
    let mut sessions = collect(
        &mut stmt,
        rusqlite::params![user.user_id, now, user.revoked_before],
        read_session,
    )?;
    sessions.retain(|s| s.is_live(now) && s.is_accepted_by(Some(user)));
    Ok(sessions)
}

fn insert_session(conn: &Connection, s: &Session) -> Result<(), StoreError> {
    let generation = i64::try_from(s.generation)
        .map_err(|_| StoreError::Internal("session generation out of range".into()))?;
    conn.execute(
        &format!(
            "INSERT INTO sessions ({SESSION_COLUMNS}) VALUES
             (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)"
        ),
        rusqlite::params![
            s.sid,
            s.user_id,
            s.username,
            s.scope,
            s.client_id,
            s.current_hash,
            s.previous_hash,
            s.rotated_at,
            generation,
            s.created_at,
            s.last_used_at,
            s.expires_at,
            s.idle_expires_at,
            s.user_agent,
            s.source_ip,
            s.revoked,
            s.watermark,
        ],
    )
    .map_err(map_err)?;
    Ok(())
}

impl UserStore for SqliteStore {
    async fn create_user(&self, user: &User) -> Result<(), StoreError> {
        let user = user.clone();
        self.write(move |tx| {
            tx.execute(
                &format!(
                    "INSERT INTO users ({USER_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
                ),
                rusqlite::params![
                    user.user_id,
                    user.username,
                    user.password_hash,
                    user.scope,
                    user.status.as_str(),
                    user.revoked_before,
                    user.created_at,
                    user.updated_at,
                ],
            )
            .map_err(map_err)?;
            Ok(())
        })
        .await
    }

    async fn get_user_by_username(&self, username: &str) -> Result<Option<User>, StoreError> {
        let username = username.to_owned();
        self.with_conn(move |conn| user_by_name(conn, &username))
            .await
    }

    async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        self.with_conn(|conn| {
            let sql = format!("SELECT {USER_COLUMNS} FROM users ORDER BY username");
            let mut stmt = conn.prepare(&sql).map_err(map_err)?;
            collect(&mut stmt, [], read_user)
        })
        .await
    }

    async fn charge_login_attempt(
        &self,
        username: &str,
        now: i64,
        policy: &LockoutPolicy,
    ) -> Result<LoginAttempt, StoreError> {
        policy.validate()?;
        let username = username.to_owned();
        let policy = *policy;
        self.write(move |tx| {
            // Counters of names nobody has tried for a whole window (plus the longest lock)
            // are dead: prune them here, so unknown usernames cannot grow the table for good.
            let dead_before = now
                .saturating_sub(policy.window_secs)
                .saturating_sub(policy.max_delay_secs);
            tx.execute(
                "DELETE FROM login_attempts WHERE last_at < ?1",
                [dead_before],
            )
            .map_err(map_err)?;
            match policy.charge(attempts_of(tx, &username)?.as_ref(), now) {
                Charge::Locked { retry_after_secs } => Ok(LoginAttempt::Locked { retry_after_secs }),
                Charge::Admit { attempts } => {
                    tx.execute(
                        "INSERT INTO login_attempts (username, attempts, last_at) VALUES (?1, ?2, ?3)
                         ON CONFLICT (username) DO UPDATE SET attempts = ?2, last_at = ?3",
                        rusqlite::params![username, attempts, now],
                    )
                    .map_err(map_err)?;
                    Ok(LoginAttempt::Admitted(AttemptTicket {
                        username,
                        attempts,
                        carry: None,
                    }))
                }
            }
        })
        .await
    }

    async fn settle_failed_login(&self, _ticket: &AttemptTicket) -> Result<(), StoreError> {
        // The charge already reset a forgotten counter in its own transaction.
        Ok(())
    }

    async fn get_login_attempts(
        &self,
        username: &str,
    ) -> Result<Option<LoginAttempts>, StoreError> {
        let username = username.to_owned();
        self.with_conn(move |conn| attempts_of(conn, &username))
            .await
    }

    async fn set_password(
        &self,
        username: &str,
        password_hash: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        let username = username.to_owned();
        let password_hash = password_hash.to_owned();
        self.write_durable(move |tx| {
            move_watermark(tx, &username, now)?;
            tx.execute(
                "UPDATE users SET password_hash = ?2, updated_at = ?3 WHERE username = ?1",
                rusqlite::params![username, password_hash, now],
            )
            .map_err(map_err)?;
            reset_attempts(tx, &username)
        })
        .await
    }

    async fn set_status(
        &self,
        username: &str,
        status: UserStatus,
        now: i64,
    ) -> Result<(), StoreError> {
        let username = username.to_owned();
        let change = move |tx: &Transaction<'_>| {
            if status == UserStatus::Disabled {
                move_watermark(tx, &username, now)?;
            }
            let changed = tx
                .execute(
                    "UPDATE users SET status = ?2, updated_at = ?3 WHERE username = ?1",
                    rusqlite::params![username, status.as_str(), now],
                )
                .map_err(map_err)?;
            if changed == 0 {
                return Err(StoreError::NotFound);
            }
            Ok(())
        };
        match status {
            UserStatus::Disabled => self.write_durable(change).await,
            UserStatus::Active => self.write(change).await,
        }
    }

    async fn revoke_all_sessions(&self, username: &str, now: i64) -> Result<(), StoreError> {
        let username = username.to_owned();
        self.write_durable(move |tx| move_watermark(tx, &username, now).map(drop))
            .await
    }
}

impl SessionStore for SqliteStore {
    async fn create_session(&self, new: &NewSession<'_>) -> Result<SessionCreated, StoreError> {
        let session = new.session.clone();
        let read = new.user.clone();
        let cap = usize::try_from(new.max_sessions.max(1)).unwrap_or(usize::MAX);
        // FULL: a login past the cap revokes the oldest session in this very transaction.
        self.write_durable(move |tx| {
            let now = session.created_at;
            let Some(user) = user_by_id(tx, &read.user_id)? else {
                return Ok(SessionCreated::UserChanged);
            };
            let unchanged = user.username == read.username
                && user.password_hash == read.password_hash
                && user.status == UserStatus::Active
                && user.revoked_before == read.revoked_before
                && session.watermark == user.revoked_before
                && session.user_id == user.user_id;
            if !unchanged {
                return Ok(SessionCreated::UserChanged);
            }
            let live = accepted_sessions(tx, &user, now)?;
            let excess = (live.len() + 1).saturating_sub(cap);
            let mut revoked = Vec::with_capacity(excess);
            for oldest in live.iter().take(excess) {
                revoke_in(tx, &oldest.sid, now)?;
                revoked.push(oldest.sid.clone());
            }
            insert_session(tx, &session)?;
            reset_attempts(tx, &session.username)?;
            Ok(SessionCreated::Created { revoked })
        })
        .await
    }

    async fn get_session(&self, sid: &str) -> Result<Option<Session>, StoreError> {
        let sid = sid.to_owned();
        self.with_conn(move |conn| session_by_sid(conn, &sid)).await
    }

    async fn get_session_and_user(
        &self,
        sid: &str,
        username: &str,
    ) -> Result<(Option<Session>, Option<User>), StoreError> {
        let (sid, username) = (sid.to_owned(), username.to_owned());
        self.with_conn(move |conn| {
            Ok((session_by_sid(conn, &sid)?, user_by_name(conn, &username)?))
        })
        .await
    }

    async fn rotate(&self, rotation: &Rotation) -> Result<RotateOutcome, StoreError> {
        let r = rotation.clone();
        // The common path (a rotation, a grace replay, a refusal) commits at NORMAL. A path
        // that must revoke rolls back and is judged again in a FULL transaction of its own,
        // so that the revocation is durable and the rotations stay fast.
        let outcome = self
            .write(move |tx| rotate_in(tx, &r, Durability::Normal))
            .await?;
        let outcome = match outcome {
            Judged::Done(outcome) => outcome,
            Judged::MustRevoke => {
                let r = rotation.clone();
                match self
                    .write_durable(move |tx| rotate_in(tx, &r, Durability::Full))
                    .await?
                {
                    Judged::Done(outcome) => outcome,
                    Judged::MustRevoke => {
                        return Err(StoreError::Internal(
                            "a durable rotation asked to revoke again".into(),
                        ));
                    }
                }
            }
        };
        if outcome == RotateOutcome::Reused {
            tracing::warn!(sid = %rotation.sid, "refresh token reuse detected; session revoked");
        }
        Ok(outcome)
    }

    async fn revoke_session(&self, sid: &str, now: i64) -> Result<bool, StoreError> {
        let sid = sid.to_owned();
        self.write_durable(move |tx| revoke_in(tx, &sid, now)).await
    }

    async fn list_user_sessions(
        &self,
        user_id: &str,
        now: i64,
    ) -> Result<Vec<Session>, StoreError> {
        let user_id = user_id.to_owned();
        self.with_conn(move |conn| {
            let Some(user) = user_by_id(conn, &user_id)? else {
                return Ok(Vec::new());
            };
            let mut sessions = accepted_sessions(conn, &user, now)?;
            sessions.sort_by(|a, b| {
                b.created_at
                    .cmp(&a.created_at)
                    .then_with(|| b.sid.cmp(&a.sid))
            });
            Ok(sessions)
        })
        .await
    }
}

/// What one rotation transaction concluded.
#[expect(
    clippy::large_enum_variant,
    reason = "a short-lived value, matched right away; boxing would only add an allocation"
)]
enum Judged {
    /// The answer; the transaction committed whatever it wrote.
    Done(RotateOutcome),
    /// The answer needs a revocation, which this (non-durable) transaction did not write.
    MustRevoke,
}

/// Judges and applies a rotation inside one transaction. At [`Durability::Normal`] a verdict
/// that revokes writes nothing and answers [`Judged::MustRevoke`].
fn rotate_in(
    tx: &Transaction<'_>,
    r: &Rotation,
    durability: Durability,
) -> Result<Judged, StoreError> {
    let stored = session_by_sid(tx, &r.sid)?;
    let verdict = judge(stored.as_ref(), r, false);
    let owner_accepts = |session: &Session| -> Result<bool, StoreError> {
        Ok(session.is_accepted_by(user_by_id(tx, &session.user_id)?.as_ref()))
    };
    let revoke = |outcome| {
        if durability == Durability::Normal {
            return Ok(Judged::MustRevoke);
        }
        revoke_in(tx, &r.sid, r.now)?;
        Ok(Judged::Done(outcome))
    };
    match (verdict, stored) {
        (Verdict::Answer(RotateOutcome::GraceReplay(session)), _) => {
            if owner_accepts(&session)? {
                Ok(Judged::Done(RotateOutcome::GraceReplay(session)))
            } else {
                revoke(RotateOutcome::Revoked)
            }
        }
        (Verdict::Answer(outcome), _) => Ok(Judged::Done(outcome)),
        (Verdict::RevokeAsReused, _) => revoke(RotateOutcome::Reused),
        (Verdict::Apply, None) => Ok(Judged::Done(RotateOutcome::NotFound)),
        (Verdict::Apply, Some(mut session)) => {
            if !owner_accepts(&session)? {
                return revoke(RotateOutcome::Revoked);
            }
            session.previous_hash = Some(r.presented_hash.clone());
            session.current_hash = r.next_hash.clone();
            session.rotated_at = Some(r.now);
            session.last_used_at = r.now;
            session.idle_expires_at = next_idle_expiry(r, session.expires_at);
            session.generation = session.generation.saturating_add(1);
            let generation = i64::try_from(session.generation)
                .map_err(|_| StoreError::Internal("session generation out of range".into()))?;
            tx.execute(
                "UPDATE sessions SET current_hash = ?2, previous_hash = ?3,
                 rotated_at = ?4, last_used_at = ?4, idle_expires_at = ?5,
                 generation = ?6 WHERE sid = ?1",
                rusqlite::params![
                    session.sid,
                    session.current_hash,
                    session.previous_hash,
                    r.now,
                    session.idle_expires_at,
                    generation,
                ],
            )
            .map_err(map_err)?;
            Ok(Judged::Done(RotateOutcome::Rotated(session)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::trace::{TraceEvent, TraceEventCodes};

    /// The synchronous levels in force at each COMMIT, in order, while `f` runs.
    async fn commits_during<F, Fut>(store: &SqliteStore, f: F) -> Vec<&'static str>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = ()>,
    {
        let log = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&log);
        store
            .conn
            .lock()
            .unwrap()
            .trace_v2(
                TraceEventCodes::SQLITE_TRACE_STMT,
                Some(move |event: TraceEvent<'_>| {
                    if let TraceEvent::Stmt(_, sql) = event {
                        sink.lock().unwrap().push(sql.to_ascii_uppercase());
                    }
                }),
            )
            .unwrap();
        f().await;
        store
            .conn
            .lock()
            .unwrap()
            .trace_v2(TraceEventCodes::empty(), None::<fn(TraceEvent<'_>)>)
            .unwrap();
        let mut level = "NORMAL";
        let mut commits = Vec::new();
        for sql in log.lock().unwrap().iter() {
            if sql.contains("SYNCHRONOUS") {
                level = if sql.contains("FULL") {
                    "FULL"
                } else {
                    "NORMAL"
                };
            } else if sql.starts_with("COMMIT") {
                commits.push(level);
            }
        }
        commits
    }

    fn ada(now: i64) -> (User, Session) {
        let user = User {
            user_id: "u-ada".into(),
            username: "ada".into(),
            password_hash: "$argon2id$x".into(),
            scope: String::new(),
            status: UserStatus::Active,
            revoked_before: 0,
            created_at: now,
            updated_at: now,
        };
        let session = Session {
            sid: "s-1".into(),
            user_id: user.user_id.clone(),
            username: user.username.clone(),
            scope: String::new(),
            client_id: "tessera".into(),
            current_hash: "h0".into(),
            previous_hash: None,
            rotated_at: None,
            generation: 0,
            created_at: now,
            last_used_at: now,
            expires_at: now + 1000,
            idle_expires_at: now + 1000,
            user_agent: None,
            source_ip: None,
            revoked: false,
            watermark: 0,
        };
        (user, session)
    }

    fn rotation(presented: &str, next: &str, now: i64) -> Rotation {
        Rotation {
            sid: "s-1".into(),
            presented_hash: presented.into(),
            next_hash: next.into(),
            now,
            idle_ttl: 1000,
            grace_secs: 0,
        }
    }

    /// A power loss must never roll back a revocation: every transaction that revokes
    /// commits at synchronous=FULL, while rotations stay at NORMAL.
    #[tokio::test]
    async fn every_revocation_commits_durably_and_rotations_do_not() {
        let dir = std::env::temp_dir().join(format!("tessera-durability-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let store = SqliteStore::open(&dir.join("tessera.db")).unwrap();
        let (user, session) = ada(100);
        store.create_user(&user).await.unwrap();
        let new = NewSession {
            session: &session,
            user: &user,
            max_sessions: 10,
        };

        let login = commits_during(&store, || async {
            store.create_session(&new).await.unwrap();
        })
        .await;
        let rotated = commits_during(&store, || async {
            let outcome = store.rotate(&rotation("h0", "h1", 101)).await.unwrap();
            assert!(matches!(outcome, RotateOutcome::Rotated(_)));
        })
        .await;
        let reused = commits_during(&store, || async {
            let outcome = store.rotate(&rotation("h0", "h1", 200)).await.unwrap();
            assert_eq!(outcome, RotateOutcome::Reused);
        })
        .await;
        let logout = commits_during(&store, || async {
            store.revoke_session("s-1", 201).await.unwrap();
        })
        .await;
        let revoke_all = commits_during(&store, || async {
            store.revoke_all_sessions("ada", 202).await.unwrap();
        })
        .await;
        let password = commits_during(&store, || async {
            store.set_password("ada", "$argon2id$y", 203).await.unwrap();
        })
        .await;
        let disable = commits_during(&store, || async {
            store
                .set_status("ada", UserStatus::Disabled, 204)
                .await
                .unwrap();
        })
        .await;
        let _ = std::fs::remove_dir_all(&dir);

        assert_eq!(login, ["FULL"], "a login may revoke for the cap");
        assert_eq!(rotated, ["NORMAL"]);
        assert_eq!(reused, ["NORMAL", "FULL"], "judged, then revoked durably");
        for (what, commits) in [
            ("logout", logout),
            ("revoke all", revoke_all),
            ("new password", password),
            ("disable", disable),
        ] {
            assert_eq!(commits, ["FULL"], "{what}");
        }
    }

    #[test]
    fn busy_maps_to_retryable_unavailable() {
        let busy = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
            None,
        );
        let err = map_err(busy);
        assert!(err.is_retryable(), "{err:?}");
    }
}
