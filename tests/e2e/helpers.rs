//! `spawn_app()`: a fresh database, a free port and the real binary, and a typed GraphQL
//! client (`app.graphql(query, variables, token)`).

use std::fs::OpenOptions;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use masar::privacy::MasterKey;
use masar_projections::testing::{fresh_database, TestDatabase};
use serde_json::Value;

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

/// A TCP port free on 127.0.0.1 now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `masar serve` on a free port against a fresh database, with a fresh master key,
/// and waits until it answers.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// [`spawn_app`] with more environment variables for the server.
pub async fn spawn_app_with(env: &[(&str, &str)]) -> TestApp {
    spawn(env, None).await
}

/// [`spawn_app_with`], with everything the server writes to its standard output and standard
/// error appended to the file `log` (created if needed), e.g. to scan it after the test. Pass
/// `RUST_LOG` in `env` to choose how much it writes (the default is `warn`).
pub async fn spawn_app_logging_to(env: &[(&str, &str)], log: &Path) -> TestApp {
    spawn(env, Some(log)).await
}

/// Starts `masar serve` as [`spawn_app`] does, on the database `db` as it is (e.g. one with no
/// migration applied).
pub async fn spawn_app_on(db: TestDatabase) -> TestApp {
    spawn_on(db, &[], None).await
}

async fn spawn(env: &[(&str, &str)], log: Option<&Path>) -> TestApp {
    spawn_on(fresh_database().await, env, log).await
}

async fn spawn_on(db: TestDatabase, env: &[(&str, &str)], log: Option<&Path>) -> TestApp {
    let port = free_port();
    let master_key = MasterKey::generate();
    let mut command = Command::new(MASAR);
    command
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("DATABASE_URL", &db.url)
        .env("RUST_LOG", "warn")
        .env("MASAR_MASTER_KEY", master_key.to_base64().as_str())
        .env_remove("MASAR_MASTER_KEY_FILE")
        .env_remove("MASAR_GRAPHQL_INTROSPECTION")
        // Other tests' databases come and go in the same cluster meanwhile, which can hold
        // the projections back for a moment: let reads wait for them rather than fail.
        .env("MASAR_PROJECTION_WAIT_MS", "20000")
        .envs(env.iter().copied())
        .stdin(Stdio::null());
    if let Some(log) = log {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        command
            .stdout(Stdio::from(file.try_clone().unwrap()))
            .stderr(Stdio::from(file));
    }
    let process = command.spawn().unwrap();
    let address = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    wait_until_healthy(&client, &address, Duration::from_secs(30)).await;
    TestApp {
        address,
        db,
        process,
        client,
    }
}

/// Waits until `GET {address}/health` answers 200, at most `within`.
pub async fn wait_until_healthy(client: &reqwest::Client, address: &str, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        if let Ok(response) = client.get(format!("{address}/health")).send().await {
            if response.status().is_success() {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "masar did not start serving at {address}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A GraphQL answer: the HTTP status and the JSON body.
#[derive(Debug, Clone)]
pub struct GraphqlResponse {
    /// HTTP status.
    pub status: u16,
    /// The body (`data`, `errors`).
    pub body: Value,
}

impl GraphqlResponse {
    /// `data`, after checking there is no error.
    #[track_caller]
    pub fn data(&self) -> &Value {
        assert_eq!(self.status, 200, "{:#}", self.body);
        assert!(
            self.body.get("errors").is_none(),
            "unexpected errors: {:#}",
            self.body
        );
        &self.body["data"]
    }

    /// The `extensions.code` of every error, in order.
    pub fn error_codes(&self) -> Vec<String> {
        self.errors()
            .iter()
            .map(|error| {
                error["extensions"]["code"]
                    .as_str()
                    .unwrap_or_else(|| panic!("an error without a code: {error:#}"))
                    .to_owned()
            })
            .collect()
    }

    /// The errors (empty when there are none).
    pub fn errors(&self) -> Vec<Value> {
        self.body["errors"].as_array().cloned().unwrap_or_default()
    }

    /// The single error's code, message and field, checking there is exactly one.
    #[track_caller]
    pub fn single_error(&self) -> (String, String, Option<String>) {
        let errors = self.errors();
        assert_eq!(errors.len(), 1, "expected one error: {:#}", self.body);
        let error = &errors[0];
        (
            error["extensions"]["code"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            error["message"].as_str().unwrap_or_default().to_owned(),
            error["extensions"]["field"].as_str().map(str::to_owned),
        )
    }
}

impl TestApp {
    /// `POST /graphql` with `query` and `variables`, as the bearer of `token` (if any).
    pub async fn graphql(
        &self,
        query: &str,
        variables: Value,
        token: Option<&str>,
    ) -> GraphqlResponse {
        let mut request = self
            .client
            .post(format!("{}/graphql", self.address))
            .json(&serde_json::json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text)
            .unwrap_or_else(|error| panic!("not JSON ({error}), status {status}: {text}"));
        GraphqlResponse { status, body }
    }

    /// `masar token issue` against the app's database: the secret. With `organisation_name`,
    /// the organisation is registered first if needed (the bootstrap of the first ADMIN).
    pub fn issue_token(
        &self,
        organisation: &str,
        role: &str,
        organisation_name: Option<&str>,
    ) -> String {
        let mut args = vec![
            "token",
            "issue",
            "--organisation",
            organisation,
            "--role",
            role,
            "--label",
            "e2e",
        ];
        if let Some(name) = organisation_name {
            args.extend(["--organisation-name", name]);
        }
        let output = Command::new(MASAR)
            .args(&args)
            .env("DATABASE_URL", &self.db.url)
            .env("RUST_LOG", "warn")
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap().trim().to_owned()
    }
}

/// The version of every migration in `migrations/`, from the files' names (`0001_….sql`), in
/// order.
pub fn migration_versions() -> Vec<i64> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations");
    let mut versions: Vec<i64> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".sql"))
        .map(|name| name.split('_').next().unwrap().parse().unwrap())
        .collect();
    versions.sort_unstable();
    assert!(!versions.is_empty(), "no migration in {}", dir.display());
    versions
}

/// Each applied migration's version, checksum and time of installation, in order: equal
/// before and after a run that applies nothing.
pub async fn applied_migrations(pool: &sqlx::PgPool) -> Vec<(i64, Vec<u8>, String)> {
    sqlx::query_as(
        "SELECT version, checksum, installed_on::text FROM _sqlx_migrations WHERE success \
         ORDER BY version",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

/// Checks that `pool`'s database is new: no table at all, not even `_sqlx_migrations`.
pub async fn assert_no_table(pool: &sqlx::PgPool) {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public'",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert!(tables.is_empty(), "not an empty database: {tables:?}");
}

/// Checks that every migration of `migrations/` is applied to `pool`'s database, and that
/// the log's tables exist.
pub async fn assert_fully_migrated(pool: &sqlx::PgPool) {
    let applied: Vec<i64> = applied_migrations(pool)
        .await
        .into_iter()
        .map(|(version, _, _)| version)
        .collect();
    assert_eq!(applied, migration_versions());
    let tables: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public' \
         AND table_name IN ('events', 'snapshots', 'seals', 'projection_checkpoints')",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(tables, 4);
}
