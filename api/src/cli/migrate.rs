//! `masar migrate`: apply pending migrations and exit.

use super::Config;

/// Opening the database applies pending migrations; report what is applied and close.
pub async fn run(config: &Config) -> anyhow::Result<()> {
    let database = config.open_database().await?;
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(&database.pool)
        .await?;
    tracing::info!(migrations.applied = applied, "database is up to date");
    database.close().await;
    Ok(())
}
