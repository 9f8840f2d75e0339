//! The server answers its health check and stops gracefully on SIGTERM.

use crate::helpers::spawn_app;

#[tokio::test]
async fn health_reports_the_log_head_and_sigterm_stops_the_server() {
    let mut app = spawn_app().await;
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
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert!(applied >= 1);

    let status = app.terminate();
    assert!(status.success(), "exit status {status:?}");
}
