//! The server answers its health check (the log head only to an authenticated caller) and
//! stops gracefully on SIGTERM.

use crate::fixtures::log_head;
use crate::helpers::{
    applied_migrations, assert_fully_migrated, assert_no_table, spawn_app_on, TestApp,
};
use masar_projections::testing::fresh_empty_database;

/// `GET /health` with `authorization` as the `Authorization` header, if any: the status and
/// the body.
async fn health(app: &TestApp, authorization: Option<&str>) -> (u16, serde_json::Value) {
    let mut request = app.client.get(format!("{}/health", app.address));
    if let Some(value) = authorization {
        request = request.header("Authorization", value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn health_reports_the_log_head_and_sigterm_stops_the_server() {
    // An empty database: serving applies every migration first.
    let db = fresh_empty_database().await;
    assert_no_table(&db.pool).await;
    let mut app = spawn_app_on(db.clone()).await;
    // Without a token: the status, and not how many events the log holds.
    let (status, body) = health(&app, None).await;
    assert_eq!(status, 200);
    assert_eq!(body, serde_json::json!({ "status": "ok" }));
    assert_fully_migrated(&app.db.pool).await;
    let applied = applied_migrations(&app.db.pool).await;

    // With a valid token: the log head too.
    let admin = app.issue_token("ENABEL", "admin", Some("Enabel"));
    let head = log_head(&app, &admin).await;
    assert_ne!(head, "0");
    let (status, body) = health(&app, Some(&format!("Bearer {admin}"))).await;
    assert_eq!(status, 200);
    assert_eq!(body, serde_json::json!({ "status": "ok", "head": head }));
    // With a token that is not one, or a header that is not a bearer token: the status only.
    let unknown = format!("Bearer masar_{}", "0".repeat(43));
    for authorization in [unknown.as_str(), "Bearer nonsense", "Basic dXNlcjpwYXNz"] {
        let (status, body) = health(&app, Some(authorization)).await;
        assert_eq!(status, 200, "{authorization}");
        assert_eq!(
            body,
            serde_json::json!({ "status": "ok" }),
            "{authorization}"
        );
    }

    let status = app.terminate();
    assert!(status.success(), "exit status {status:?}");

    // Serving again applies nothing.
    let mut app = spawn_app_on(db).await;
    assert_eq!(applied_migrations(&app.db.pool).await, applied);
    let status = app.terminate();
    assert!(status.success(), "exit status {status:?}");
}
