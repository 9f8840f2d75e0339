//! The server answers its health check and stops gracefully on SIGTERM.

use crate::helpers::{applied_migrations, assert_fully_migrated, assert_no_table, spawn_app_on};
use masar_projections::testing::fresh_empty_database;

#[tokio::test]
async fn health_reports_the_log_head_and_sigterm_stops_the_server() {
    // An empty database: serving applies every migration first.
    let db = fresh_empty_database().await;
    assert_no_table(&db.pool).await;
    let mut app = spawn_app_on(db.clone()).await;
    let response = app
        .client
        .get(format!("{}/health", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["head"], "0");
    assert_fully_migrated(&app.db.pool).await;
    let applied = applied_migrations(&app.db.pool).await;

    let status = app.terminate();
    assert!(status.success(), "exit status {status:?}");

    // Serving again applies nothing.
    let mut app = spawn_app_on(db).await;
    assert_eq!(applied_migrations(&app.db.pool).await, applied);
    let status = app.terminate();
    assert!(status.success(), "exit status {status:?}");
}
