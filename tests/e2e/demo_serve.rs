//! The path a newcomer takes first, at the size they take it: `masar demo --no-serve` on a new
//! embedded data directory, then `masar serve`, which catches up the whole backlog; the
//! projections must then equal their rebuild (`masar verify --projections` exits 0) and every
//! programme's IDENTIFIED must be the number of people the demo recorded for it. And `masar
//! demo` alone, which records and then serves.
//!
//! A new cluster's transaction ids start below 1,000 and the demo's writes take them past it:
//! the log straddles a power of ten, where a feed that sorted transaction ids as text lost
//! and repeated events. The tests check that it does, so that they keep testing that case.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use masar_projections::database::{EmbeddedPostgres, EMBEDDED_DATABASE};
use serde_json::{json, Value};
use sqlx::Connection;

use crate::helpers::{free_port, wait_until_healthy, MASAR};

/// A `masar` command on the embedded default in `data_dir` (no `DATABASE_URL`).
fn masar(data_dir: &Path) -> Command {
    let mut command = Command::new(MASAR);
    command
        .env_remove("DATABASE_URL")
        .env_remove("MASAR_MASTER_KEY")
        .env_remove("MASAR_MASTER_KEY_FILE")
        .env_remove("MASAR_SEAL_KEY_FILE")
        .env_remove("MASAR_SEAL_PUBLIC_KEY")
        .env("MASAR_DATA_DIR", data_dir)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null());
    command
}

/// The people per programme of the demo's summary line
/// `masar demo: 17070 people: AMUDDU-AGENTS 600, AMUDDU-RSK 150, …`.
fn people_of(summary: &str) -> BTreeMap<String, f64> {
    let line = summary
        .lines()
        .find(|line| line.starts_with("masar demo: ") && line.contains(" people: "))
        .unwrap_or_else(|| panic!("no people line in the demo's summary:\n{summary}"));
    let (_, list) = line.split_once(" people: ").unwrap();
    list.split(", ")
        .map(|entry| {
            let (code, count) = entry.rsplit_once(' ').unwrap();
            (code.to_owned(), count.parse().unwrap())
        })
        .collect()
}

/// A running server, killed when dropped.
struct Server {
    process: Child,
    address: String,
    client: reqwest::Client,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.process.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.process.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

impl Server {
    /// Waits until `/health` answers 200 (at most `within`).
    async fn started(process: Child, port: u16, within: Duration) -> Server {
        let server = Server {
            process,
            address: format!("http://127.0.0.1:{port}"),
            client: reqwest::Client::new(),
        };
        wait_until_healthy(&server.client, &server.address, within).await;
        server
    }

    /// The whole answer to `query`, errors and all.
    async fn answer(&self, token: &str, query: &str, variables: Value) -> Value {
        self.client
            .post(format!("{}/graphql", self.address))
            .bearer_auth(token)
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    async fn graphql(&self, token: &str, query: &str, variables: Value) -> Value {
        let body = self.answer(token, query, variables).await;
        assert!(body.get("errors").is_none(), "{body:#}");
        body["data"].clone()
    }

    /// Waits until every projection reports lag 0.
    async fn caught_up(&self, token: &str, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let data = self
                .graphql(token, "{ projections { name lag } }", json!({}))
                .await;
            let projections = data["projections"].as_array().unwrap();
            if !projections.is_empty() && projections.iter().all(|p| p["lag"] == 0) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the projections did not catch up: {data:#}"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// IDENTIFIED of every programme in `people`, with an ADMIN token (exact figures).
    async fn identified(
        &self,
        token: &str,
        people: &BTreeMap<String, f64>,
    ) -> BTreeMap<String, f64> {
        let mut figures = BTreeMap::new();
        for code in people.keys() {
            let data = self
                .graphql(
                    token,
                    "query($code: String!) { indicators(programmeCode: $code) { indicators { code value } } }",
                    json!({ "code": code }),
                )
                .await;
            let value = data["indicators"]["indicators"]
                .as_array()
                .unwrap()
                .iter()
                .find(|i| i["code"] == "IDENTIFIED")
                .and_then(|i| i["value"].as_f64())
                .unwrap_or_else(|| panic!("no IDENTIFIED for {code}: {data:#}"));
            figures.insert(code.clone(), value);
        }
        figures
    }
}

/// The lowest and highest transaction ids of the log, read while the server runs.
async fn transaction_ids(data_dir: &Path) -> (u64, u64) {
    let embedded = EmbeddedPostgres::new(data_dir).unwrap();
    let mut connection =
        sqlx::PgConnection::connect_with(&embedded.connect_options(EMBEDDED_DATABASE))
            .await
            .unwrap();
    let (low, high): (String, String) = sqlx::query_as(
        "SELECT min(transaction_id)::text, max(transaction_id)::text FROM events \
         WHERE aggregate_type = 'Beneficiary'",
    )
    .fetch_one(&mut connection)
    .await
    .unwrap();
    let _ = connection.close().await;
    (low.parse().unwrap(), high.parse().unwrap())
}

/// The log's transaction ids are of different lengths (they straddle a power of ten).
fn straddles_a_power_of_ten((low, high): (u64, u64)) -> bool {
    low.to_string().len() < high.to_string().len()
}

/// Runs `masar verify --projections`, checks it exits 0; its report.
fn verify_projections(data_dir: &Path) -> String {
    let verified = masar(data_dir)
        .args(["verify", "--projections"])
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&verified.stdout).into_owned();
    assert!(
        verified.status.success(),
        "{report}\n{}",
        String::from_utf8_lossy(&verified.stderr)
    );
    report
}

fn new_data_dir() -> (tempfile::TempDir, std::path::PathBuf) {
    // Under /tmp: reachable by the postgres user when the tests run as root.
    let dir = tempfile::Builder::new()
        .prefix("masar-newcomer")
        .tempdir_in("/tmp")
        .unwrap();
    let data_dir = dir.path().join("data");
    (dir, data_dir)
}

#[tokio::test]
async fn demo_then_serve_catches_up_the_whole_backlog_exactly() {
    let (_dir, data_dir) = new_data_dir();
    let output = masar(&data_dir)
        .args(["demo", "--no-serve"])
        .output()
        .unwrap();
    let summary = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{summary}");
    let token = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    let people = people_of(&summary);
    assert_eq!(people.len(), 5, "{summary}");

    let port = free_port();
    let process = masar(&data_dir)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .spawn()
        .unwrap();
    let server = Server::started(process, port, Duration::from_secs(120)).await;
    server.caught_up(&token, Duration::from_secs(300)).await;
    let ids = transaction_ids(&data_dir).await;
    assert!(straddles_a_power_of_ten(ids), "{ids:?}");

    assert_eq!(server.identified(&token, &people).await, people);

    let report = verify_projections(&data_dir);
    assert!(report.contains("OK: projection beneficiaries"), "{report}");
    assert!(
        report.contains("OK: projection programme_activities"),
        "{report}"
    );

    expensive_requests_hold_nobody_up(&server, &token).await;
}

/// On the demo's data: a breakdown by every dimension is refused (it has more combinations
/// than one answer carries), and while verifications and as-of reports run side by side,
/// everyone else's cheap reads are answered at once.
async fn expensive_requests_hold_nobody_up(server: &Server, token: &str) {
    let body = server
        .answer(
            token,
            "{ indicators(programmeCode: \"WORK4LIFE\", disaggregateBy: [SEX, AGE_BAND, REGION, PARTNER, NATIONALITY, LEGAL_STATUS, MONTH, QUARTER]) { position } }",
            json!({}),
        )
        .await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "QUERY_TOO_COMPLEX",
        "{body:#}"
    );
    let message = body["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(message.contains("5000"), "{message}");

    let expensive = [
        "{ verifyIntegrity { ok } }",
        "{ indicators(programmeCode: \"WORK4LIFE\", asOf: \"2030-01-01T00:00:00Z\") { position } }",
    ];
    let load: Vec<_> = (0..12)
        .map(|n| {
            let client = server.client.clone();
            let url = format!("{}/graphql", server.address);
            let token = token.to_owned();
            let query = expensive[n % 2];
            tokio::spawn(async move {
                client
                    .post(url)
                    .bearer_auth(token)
                    .json(&json!({ "query": query }))
                    .send()
                    .await
                    .unwrap()
                    .status()
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut slowest = Duration::ZERO;
    for _ in 0..10 {
        let started = Instant::now();
        let me = server.graphql(token, "{ me { role } }", json!({})).await;
        assert_eq!(me["me"]["role"], "ADMIN");
        slowest = slowest.max(started.elapsed());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let still_running = load.iter().filter(|task| !task.is_finished()).count();
    for task in load {
        assert!(task.await.unwrap().is_success());
    }
    eprintln!(
        "cheap reads beside {still_running} expensive requests still running: slowest {slowest:?}"
    );
    assert!(
        still_running > 0,
        "the expensive requests ended too soon to tell"
    );
    assert!(
        slowest < Duration::from_secs(1),
        "a cheap read waited {slowest:?}"
    );
}

#[tokio::test]
async fn demo_alone_serves_figures_equal_to_what_it_recorded() {
    let (_dir, data_dir) = new_data_dir();
    let port = free_port();
    let log = data_dir.with_file_name("demo.log");
    let file = std::fs::File::create(&log).unwrap();
    let process = masar(&data_dir)
        .args([
            "demo",
            "--scale",
            "0.2",
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::from(file))
        .spawn()
        .unwrap();
    let mut server = Server::started(process, port, Duration::from_secs(300)).await;
    // The token is the first line on stdout, written before serving.
    let stdout = server.process.stdout.take().unwrap();
    let mut token = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut token).unwrap();
    let token = token.trim().to_owned();
    assert!(!token.is_empty());
    let summary = std::fs::read_to_string(&log).unwrap();
    let people = people_of(&summary);

    server.caught_up(&token, Duration::from_secs(300)).await;
    let ids = transaction_ids(&data_dir).await;
    assert!(straddles_a_power_of_ten(ids), "{ids:?}");
    assert_eq!(server.identified(&token, &people).await, people);
    verify_projections(&data_dir);
}
