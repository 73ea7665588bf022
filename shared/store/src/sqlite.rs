//! The embedded adapter: one SQLite file.
//!
//! rusqlite is synchronous, so every call runs on tokio's blocking pool over one connection
//! behind a mutex. The file is opened in WAL mode with a busy timeout, so another process (the
//! `tessera` CLI while a server runs) can write to the same file: writers queue on SQLite's
//! lock, readers never block. Every read-modify-write runs in one `IMMEDIATE` transaction,
//! which takes the write lock up front, so two writers never interleave between the read and
//! the write.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::types::FromSql;
use rusqlite::{Connection, ErrorCode, Row, Transaction, TransactionBehavior};

use crate::rotation::{Verdict, judge, next_idle_expiry};
use crate::{
    LockoutPolicy, RotateOutcome, Rotation, Session, SessionStore, StoreError, User, UserStatus,
    UserStore,
};

/// How long a writer waits for another connection's write lock before giving up with
/// [`StoreError::Unavailable`].
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The schema version this code writes; `PRAGMA user_version` records what a file has.
const SCHEMA_VERSION: i64 = 1;

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
];

const USER_COLUMNS: &str = "user_id, username, password_hash, scope, status, failed_attempts, \
                            locked_until, created_at, updated_at";

const SESSION_COLUMNS: &str = "sid, user_id, username, scope, client_id, current_hash, \
                               previous_hash, rotated_at, generation, created_at, last_used_at, \
                               expires_at, idle_expires_at, user_agent, source_ip, revoked";

/// Users and sessions in one SQLite file. Cheap to clone (the clones share the connection).
#[derive(Clone, Debug)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
}

impl SqliteStore {
    /// Opens (or creates) the database file: WAL mode, busy timeout, schema migrated to the
    /// current version. Blocking; call it at start-up.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
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
        // dies; an OS crash or power loss may roll back the last commits. BENCHMARKS.md
        // ("SQLite durability") weighs this against refresh throughput.
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

    /// Runs `f` inside one `IMMEDIATE` transaction, committed when `f` succeeds.
    async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        self.with_conn(move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(map_err)?;
            let value = f(&tx)?;
            tx.commit().map_err(map_err)?;
            Ok(value)
        })
        .await
    }
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
        failed_attempts: get(row, 5, "failed_attempts")?,
        locked_until: get(row, 6, "locked_until")?,
        created_at: get(row, 7, "created_at")?,
        updated_at: get(row, 8, "updated_at")?,
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

/// Revokes the user's live sessions inside the caller's transaction.
fn revoke_live_sessions(conn: &Connection, user_id: &str, now: i64) -> Result<u32, StoreError> {
    let changed = conn
        .execute(
            "UPDATE sessions SET revoked = 1, revoked_at = ?2
             WHERE user_id = ?1 AND revoked = 0 AND expires_at > ?2 AND idle_expires_at > ?2",
            rusqlite::params![user_id, now],
        )
        .map_err(map_err)?;
    u32::try_from(changed).map_err(|_| StoreError::Internal("too many sessions revoked".into()))
}

impl UserStore for SqliteStore {
    async fn create_user(&self, user: &User) -> Result<(), StoreError> {
        let user = user.clone();
        self.write(move |tx| {
            tx.execute(
                &format!(
                    "INSERT INTO users ({USER_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
                ),
                rusqlite::params![
                    user.user_id,
                    user.username,
                    user.password_hash,
                    user.scope,
                    user.status.as_str(),
                    user.failed_attempts,
                    user.locked_until,
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

    async fn record_login_failure(
        &self,
        username: &str,
        now: i64,
        lock: &LockoutPolicy,
    ) -> Result<User, StoreError> {
        let username = username.to_owned();
        let lock = *lock;
        self.write(move |tx| {
            let mut user = user_by_name(tx, &username)?.ok_or(StoreError::NotFound)?;
            user.failed_attempts = user.failed_attempts.saturating_add(1);
            if let Some(delay) = lock.delay_secs(user.failed_attempts) {
                user.locked_until = Some(now.saturating_add(delay));
            }
            tx.execute(
                "UPDATE users SET failed_attempts = ?2, locked_until = ?3 WHERE username = ?1",
                rusqlite::params![username, user.failed_attempts, user.locked_until],
            )
            .map_err(map_err)?;
            Ok(user)
        })
        .await
    }

    async fn record_login_success(&self, username: &str) -> Result<(), StoreError> {
        let username = username.to_owned();
        self.write(move |tx| {
            let changed = tx
                .execute(
                    "UPDATE users SET failed_attempts = 0, locked_until = NULL WHERE username = ?1",
                    [&username],
                )
                .map_err(map_err)?;
            if changed == 0 {
                return Err(StoreError::NotFound);
            }
            Ok(())
        })
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
        self.write(move |tx| {
            let user = user_by_name(tx, &username)?.ok_or(StoreError::NotFound)?;
            tx.execute(
                "UPDATE users SET password_hash = ?2, updated_at = ?3, failed_attempts = 0,
                 locked_until = NULL WHERE username = ?1",
                rusqlite::params![username, password_hash, now],
            )
            .map_err(map_err)?;
            revoke_live_sessions(tx, &user.user_id, now)?;
            Ok(())
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
        self.write(move |tx| {
            let user = user_by_name(tx, &username)?.ok_or(StoreError::NotFound)?;
            tx.execute(
                "UPDATE users SET status = ?2, updated_at = ?3 WHERE username = ?1",
                rusqlite::params![username, status.as_str(), now],
            )
            .map_err(map_err)?;
            if status == UserStatus::Disabled {
                revoke_live_sessions(tx, &user.user_id, now)?;
            }
            Ok(())
        })
        .await
    }
}

impl SessionStore for SqliteStore {
    async fn create_session(&self, session: &Session) -> Result<(), StoreError> {
        let s = session.clone();
        let generation = i64::try_from(s.generation)
            .map_err(|_| StoreError::Internal("session generation out of range".into()))?;
        self.write(move |tx| {
            tx.execute(
                &format!(
                    "INSERT INTO sessions ({SESSION_COLUMNS}) VALUES
                     (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)"
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
                ],
            )
            .map_err(map_err)?;
            Ok(())
        })
        .await
    }

    async fn get_session(&self, sid: &str) -> Result<Option<Session>, StoreError> {
        let sid = sid.to_owned();
        self.with_conn(move |conn| session_by_sid(conn, &sid)).await
    }

    async fn rotate(&self, rotation: &Rotation) -> Result<RotateOutcome, StoreError> {
        let r = rotation.clone();
        let outcome = self
            .write(move |tx| {
                let stored = session_by_sid(tx, &r.sid)?;
                match judge(stored.as_ref(), &r, false) {
                    Verdict::Answer(outcome) => Ok(outcome),
                    Verdict::RevokeAsReused => {
                        tx.execute(
                            "UPDATE sessions SET revoked = 1, revoked_at = ?2 WHERE sid = ?1",
                            rusqlite::params![r.sid, r.now],
                        )
                        .map_err(map_err)?;
                        Ok(RotateOutcome::Reused)
                    }
                    Verdict::Apply => {
                        let Some(mut session) = stored else {
                            return Ok(RotateOutcome::NotFound);
                        };
                        session.previous_hash = Some(r.presented_hash.clone());
                        session.current_hash = r.next_hash.clone();
                        session.rotated_at = Some(r.now);
                        session.last_used_at = r.now;
                        session.idle_expires_at = next_idle_expiry(&r, session.expires_at);
                        session.generation = session.generation.saturating_add(1);
                        let generation = i64::try_from(session.generation).map_err(|_| {
                            StoreError::Internal("session generation out of range".into())
                        })?;
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
                        Ok(RotateOutcome::Rotated(session))
                    }
                }
            })
            .await?;
        if outcome == RotateOutcome::Reused {
            tracing::warn!(sid = %rotation.sid, "refresh token reuse detected; session revoked");
        }
        Ok(outcome)
    }

    async fn revoke_session(&self, sid: &str, now: i64) -> Result<bool, StoreError> {
        let sid = sid.to_owned();
        self.write(move |tx| {
            let changed = tx
                .execute(
                    "UPDATE sessions SET revoked = 1, revoked_at = ?2 WHERE sid = ?1 AND revoked = 0",
                    rusqlite::params![sid, now],
                )
                .map_err(map_err)?;
            Ok(changed > 0)
        })
        .await
    }

    async fn revoke_user_sessions(&self, user_id: &str, now: i64) -> Result<u32, StoreError> {
        let user_id = user_id.to_owned();
        self.write(move |tx| revoke_live_sessions(tx, &user_id, now))
            .await
    }

    async fn list_user_sessions(
        &self,
        user_id: &str,
        now: i64,
    ) -> Result<Vec<Session>, StoreError> {
        let user_id = user_id.to_owned();
        self.with_conn(move |conn| {
            let sql = format!(
                "SELECT {SESSION_COLUMNS} FROM sessions
                 WHERE user_id = ?1 AND revoked = 0 AND expires_at > ?2 AND idle_expires_at > ?2
                 ORDER BY created_at DESC, sid DESC"
            );
            let mut stmt = conn.prepare(&sql).map_err(map_err)?;
            collect(&mut stmt, rusqlite::params![user_id, now], read_session)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
