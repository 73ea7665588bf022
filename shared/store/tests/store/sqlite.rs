//! What only the SQLite adapter can show: two processes on one file, and the file itself.

use tessera_store::{RotateOutcome, SessionStore, SqliteStore, UserStore};

use crate::helpers::{T0, TempDir, create, rotation, seed, session, user};

/// A server and the CLI each open the file: each sees the other's writes, and a rotation
/// race across the two instances still has one winner.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_on_one_file_share_state_and_rotate_safely() {
    let dir = TempDir::new();
    let path = dir.path().join("tessera.db");
    let server = SqliteStore::open(&path).unwrap();
    let cli = SqliteStore::open(&path).unwrap();

    let (ada, s) = seed(&cli, "ada").await;
    assert_eq!(
        server.get_user_by_username("ada").await.unwrap(),
        Some(ada.clone())
    );
    assert_eq!(server.get_session(&s.sid).await.unwrap(), Some(s.clone()));

    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..16 {
        let store = if i % 2 == 0 {
            server.clone()
        } else {
            cli.clone()
        };
        let r = rotation(&s.sid, &s.current_hash, &format!("next-{i}"), T0 + 60, 10);
        tasks.spawn(async move { store.rotate(&r).await.unwrap() });
    }
    let outcomes = tasks.join_all().await;
    let rotated: Vec<_> = outcomes
        .iter()
        .filter_map(|o| match o {
            RotateOutcome::Rotated(after) => Some(after.current_hash.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(rotated.len(), 1, "{outcomes:?}");
    for outcome in &outcomes {
        match outcome {
            RotateOutcome::Rotated(after) | RotateOutcome::GraceReplay(after) => {
                assert_eq!(after.current_hash, rotated[0]);
            }
            other => panic!("unexpected outcome within grace: {other:?}"),
        }
    }

    cli.revoke_all_sessions(&ada.username, T0 + 70)
        .await
        .unwrap();
    let after = server.get_session(&s.sid).await.unwrap().unwrap();
    let r = rotation(&s.sid, &after.current_hash, "later", T0 + 71, 10);
    assert_eq!(server.rotate(&r).await.unwrap(), RotateOutcome::Revoked);
}

/// Reopening the file keeps every record; the schema version is recorded in the file.
#[tokio::test]
async fn reopening_keeps_records_and_schema_version() {
    let dir = TempDir::new();
    let path = dir.path().join("tessera.db");
    let ada = user("ada");
    let s = session(&ada, T0);
    {
        let store = SqliteStore::open(&path).unwrap();
        store.create_user(&ada).await.unwrap();
        create(&store, &ada, &s).await;
    }

    let store = SqliteStore::open(&path).unwrap();

    assert_eq!(store.get_user_by_username("ada").await.unwrap(), Some(ada));
    assert_eq!(store.get_session(&s.sid).await.unwrap(), Some(s));
    let raw = rusqlite::Connection::open(&path).unwrap();
    let version: i64 = raw
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .unwrap();
    let mode: String = raw
        .pragma_query_value(None, "journal_mode", |row| row.get(0))
        .unwrap();
    assert_eq!((version, mode.as_str()), (2, "wal"));
}

/// A file of the first schema (lockout counters on users, no watermark) is migrated in
/// place: its users and sessions read back with watermark 0 and keep working.
#[tokio::test]
async fn a_first_schema_file_is_migrated() {
    let dir = TempDir::new();
    let path = dir.path().join("tessera.db");
    {
        let raw = rusqlite::Connection::open(&path).unwrap();
        raw.execute_batch(
            "CREATE TABLE users (username TEXT PRIMARY KEY NOT NULL, user_id TEXT NOT NULL UNIQUE,
                password_hash TEXT NOT NULL, scope TEXT NOT NULL, status TEXT NOT NULL,
                failed_attempts INTEGER NOT NULL, locked_until INTEGER,
                created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL) STRICT;
             CREATE TABLE sessions (sid TEXT PRIMARY KEY NOT NULL, user_id TEXT NOT NULL,
                username TEXT NOT NULL, scope TEXT NOT NULL, client_id TEXT NOT NULL,
                current_hash TEXT NOT NULL, previous_hash TEXT, rotated_at INTEGER,
                generation INTEGER NOT NULL, created_at INTEGER NOT NULL,
                last_used_at INTEGER NOT NULL, expires_at INTEGER NOT NULL,
                idle_expires_at INTEGER NOT NULL, user_agent TEXT, source_ip TEXT,
                revoked INTEGER NOT NULL, revoked_at INTEGER) STRICT;
             CREATE INDEX sessions_by_user ON sessions (user_id, created_at);
             INSERT INTO users VALUES ('ada', 'u-ada', '$argon2id$x', 'read', 'active', 3,
                NULL, 1, 1);
             INSERT INTO sessions VALUES ('s-1', 'u-ada', 'ada', 'read', 'tessera', 'h0', NULL,
                NULL, 0, 2000000000, 2000000000, 2100000000, 2100000000, NULL, NULL, 0, NULL);
             PRAGMA user_version = 1;",
        )
        .unwrap();
    }

    let store = SqliteStore::open(&path).unwrap();

    let ada = store.get_user_by_username("ada").await.unwrap().unwrap();
    assert_eq!((ada.user_id.as_str(), ada.revoked_before), ("u-ada", 0));
    assert_eq!(
        store.get_session("s-1").await.unwrap().unwrap().watermark,
        0
    );
    let r = rotation("s-1", "h0", "h1", T0 + 1, 10);
    assert!(matches!(
        store.rotate(&r).await.unwrap(),
        RotateOutcome::Rotated(_)
    ));
    assert_eq!(store.get_login_attempts("ada").await.unwrap(), None);
}

/// The database and its WAL and shared-memory files are private to the user (0600), even in
/// a folder anyone may write to and under a permissive umask's default 0644; an existing
/// file with a wider mode is narrowed.
#[tokio::test]
async fn the_database_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let path = dir.path().join("tessera.db");
    let mode = |suffix: &str| {
        let file = dir.path().join(format!("tessera.db{suffix}"));
        std::fs::metadata(file).unwrap().permissions().mode() & 0o777
    };

    let store = SqliteStore::open(&path).unwrap();
    seed(&store, "ada").await;
    for suffix in ["", "-wal", "-shm"] {
        assert_eq!(mode(suffix), 0o600, "tessera.db{suffix}");
    }
    drop(store);

    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    drop(SqliteStore::open(&path).unwrap());
    assert_eq!(mode(""), 0o600);
}

/// A file written by a newer build is refused rather than misread.
#[tokio::test]
async fn a_newer_schema_is_refused() {
    let dir = TempDir::new();
    let path = dir.path().join("tessera.db");
    drop(SqliteStore::open(&path).unwrap());
    rusqlite::Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", 99)
        .unwrap();

    let err = SqliteStore::open(&path).unwrap_err();

    assert!(err.to_string().contains("newer"), "{err}");
}
