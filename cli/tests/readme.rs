//! README.md's quick start, run as written: `tessera serve` started with its defaults in a
//! fresh folder (so `./.tessera` is shared with the README's `tessera user add`), the block
//! between `<!-- quickstart -->` and `<!-- /quickstart -->` run with `bash -euo pipefail` in
//! that folder, with `tessera` on PATH and only the address changed to the test's port.

// Helpers outside #[test] functions may fail loudly too: a panic there is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const README: &str = include_str!("../../README.md");
const BOUND: Duration = Duration::from_secs(60);

/// A directory removed at the end of the test.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The server, killed at the end of the test.
struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The shell commands between the markers, without the code fence.
fn quickstart() -> String {
    let start = README
        .find("<!-- quickstart -->")
        .expect("README has <!-- quickstart -->");
    let end = README
        .find("<!-- /quickstart -->")
        .expect("README has <!-- /quickstart -->");
    let block = &README[start + "<!-- quickstart -->".len()..end];
    let body: Vec<&str> = block
        .lines()
        .filter(|l| !l.trim_start().starts_with("```"))
        .collect();
    body.join("\n")
}

/// The first fenced code block of README.md.
fn first_code_block() -> &'static str {
    let open = README.find("```").expect("README has a code block");
    let rest = &README[open + 3..];
    let close = rest.find("```").expect("the first code block is closed");
    &rest[..close]
}

fn wait_until_ready(child: &mut Child, addr: &str) {
    let deadline = Instant::now() + BOUND;
    loop {
        if std::net::TcpStream::connect(addr).is_ok() {
            // The listener is bound before the store opens; ask for a real answer.
            let probe = Command::new("curl")
                .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-m", "2"])
                .arg(format!("http://{addr}/.well-known/jwks.json"))
                .output()
                .unwrap();
            if probe.stdout == b"200" {
                return;
            }
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("tessera serve exited during start-up: {status}");
        }
        assert!(Instant::now() < deadline, "tessera serve did not answer");
        std::thread::sleep(Duration::from_millis(25));
    }
}

fn symlink_dir(binary: &Path, dir: &Path) -> PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(binary, bin.join("tessera")).unwrap();
    bin
}

/// Gives README's first code block; expects the command that runs the whole service.
#[test]
fn readme_first_code_block_runs_tessera_serve() {
    assert!(
        first_code_block().contains("cargo run --release -p tessera -- serve"),
        "{}",
        first_code_block()
    );
}

/// Gives the quick start block and `tessera serve` with default `--data` in a fresh folder;
/// runs the block; expects /me to print the context JSON (`sub`, `sid`, `scope`, `jti`) and the
/// logout to print 204.
#[test]
fn readme_quickstart_runs_as_written() {
    let dir = TempDir(
        std::env::temp_dir().join(format!("tessera-readme-{}", tessera_token::random_id())),
    );
    let work = dir.0.join("work");
    std::fs::create_dir_all(&work).unwrap();
    let bin = symlink_dir(Path::new(env!("CARGO_BIN_EXE_tessera")), &dir.0);
    let addr = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let script = quickstart();
    assert!(script.contains("127.0.0.1:8080"), "{script}");
    let script = script.replace("127.0.0.1:8080", &addr);
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );

    let mut serve = Serve(
        Command::new(bin.join("tessera"))
            .env_clear()
            .env("PATH", &path)
            .env("RUST_LOG", "warn")
            .args(["serve", "--addr", &addr])
            .current_dir(&work)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_until_ready(&mut serve.0, &addr);
    let out = Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .env("PATH", &path)
        .current_dir(&work)
        .stdin(Stdio::null())
        .output()
        .unwrap();

    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the quick start failed ({}):\nstdout: {stdout}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(work.join(".tessera").is_dir(), "serve used ./.tessera");
    // `tessera user add` prints its line first; then curl prints /me's body, no newline.
    let (before, from_me) = stdout.split_at(stdout.find('{').expect("/me printed JSON"));
    assert!(before.starts_with("created user alice"), "{stdout}");
    let mut values = serde_json::Deserializer::from_str(from_me).into_iter::<Value>();
    let me = values.next().unwrap().unwrap();
    let rest = &from_me[values.byte_offset()..];
    let mut keys: Vec<&str> = me.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["jti", "scope", "sid", "sub"], "{stdout}");
    assert_eq!(me["scope"], "profile");
    assert_eq!(rest.trim(), "204", "{stdout}");
}
