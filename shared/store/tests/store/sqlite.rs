//! What only the SQLite adapter can show: two processes on one file, and the file itself.

use tessera_store::{RotateOutcome, SessionStore, SqliteStore, UserStore};

use crate::helpers::{T0, TempDir, rotation, seed, session, user};

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

    assert_eq!(
        cli.revoke_user_sessions(&ada.user_id, T0 + 70)
            .await
            .unwrap(),
        1
    );
    assert!(server.get_session(&s.sid).await.unwrap().unwrap().revoked);
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
        store.create_session(&s).await.unwrap();
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
    assert_eq!((version, mode.as_str()), (1, "wal"));
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
