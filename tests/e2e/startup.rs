//! `masar serve` started before its PostgreSQL server (both starting at boot): it keeps trying
//! with a growing pause, logging each attempt, and serves once the database answers; it gives
//! up with a one-line reason after MASAR_DB_STARTUP_TIMEOUT.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use masar_projections::testing::private_cluster;

use crate::helpers::{free_port, wait_until_healthy, MASAR};

#[tokio::test]
async fn serve_waits_for_a_database_that_starts_after_it() {
    let cluster = private_cluster().await.unwrap();
    let url = cluster.database.url.clone();
    cluster.database.pool.close().await;
    cluster.server().stop().await.unwrap();

    let port = free_port();
    let log = tempfile::NamedTempFile::new().unwrap();
    let mut serve = Command::new(MASAR)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("DATABASE_URL", &url)
        .env("MASAR_DB_STARTUP_TIMEOUT", "60")
        .env("MASAR_SEAL_INTERVAL", "0")
        .env(
            "MASAR_MASTER_KEY",
            masar::privacy::MasterKey::generate().to_base64().as_str(),
        )
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stderr(Stdio::from(log.reopen().unwrap()))
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(serve.try_wait().unwrap().is_none(), "serve gave up at once");
    cluster.server().start().await.unwrap();

    wait_until_healthy(
        &reqwest::Client::new(),
        &format!("http://127.0.0.1:{port}"),
        Duration::from_secs(30),
    )
    .await;
    let _ = serve.kill();
    let _ = serve.wait();
    let logged = std::fs::read_to_string(log.path()).unwrap();
    let attempts = logged
        .lines()
        .filter(|line| line.contains("the database does not answer yet"))
        .count();
    assert!(attempts >= 2, "{logged}");
    assert!(logged.contains("db.attempt"), "{logged}");
}

#[tokio::test]
async fn serve_gives_up_after_its_startup_timeout_with_a_one_line_reason() {
    let started = Instant::now();
    let output = Command::new(MASAR)
        .args(["serve", "--listen", &format!("127.0.0.1:{}", free_port())])
        // Nothing listens on port 1.
        .env("DATABASE_URL", "postgres://postgres@127.0.0.1:1/masar")
        .env("MASAR_DB_STARTUP_TIMEOUT", "2")
        .env("MASAR_SEAL_INTERVAL", "0")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let elapsed = started.elapsed();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(elapsed >= Duration::from_secs(2), "{elapsed:?}: {stderr}");
    let last = stderr.lines().last().unwrap_or_default();
    assert!(last.starts_with("masar: "), "{stderr}");
    assert!(last.contains("MASAR_DB_STARTUP_TIMEOUT"), "{last}");

    // A server that answers but refuses (no such database) is not waited for.
    let db = masar_projections::testing::fresh_database().await;
    let missing = db.url.replace(&db.name, "masar_no_such_database_here");
    let started = Instant::now();
    let output = Command::new(MASAR)
        .args(["serve", "--listen", &format!("127.0.0.1:{}", free_port())])
        .env("DATABASE_URL", &missing)
        .env("MASAR_DB_STARTUP_TIMEOUT", "30")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(20), "{stderr}");
    assert!(!stderr.contains("does not answer yet"), "{stderr}");
}
