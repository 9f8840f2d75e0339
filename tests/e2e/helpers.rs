//! `spawn_app()`: a fresh database, a free port and the real binary.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use masar_projections::testing::{fresh_database, TestDatabase};

/// Path of the `masar` binary built for these tests.
pub const MASAR: &str = env!("CARGO_BIN_EXE_masar");

/// A running `masar serve` and its database.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`.
    pub address: String,
    /// The database it serves.
    pub db: TestDatabase,
    /// The server process.
    pub process: Child,
    /// HTTP client.
    pub client: reqwest::Client,
}

impl TestApp {
    /// Sends SIGTERM and waits for the process to exit; returns its exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.process.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.process.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "masar did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `masar serve` on a free port against a fresh database and waits until it answers.
pub async fn spawn_app() -> TestApp {
    let db = fresh_database().await;
    let port = free_port();
    let process = Command::new(MASAR)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("DATABASE_URL", &db.url)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let address = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(response) = client.get(format!("{address}/health")).send().await {
            if response.status().is_success() {
                break;
            }
        }
        assert!(Instant::now() < deadline, "masar did not start serving");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    TestApp {
        address,
        db,
        process,
        client,
    }
}
