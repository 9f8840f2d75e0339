//! `masar token issue` and `masar token revoke` as an operator uses them: bootstrapping the
//! first ADMIN, issuing for a registered organisation, revoking.

use std::process::{Command, Output};

use crate::helpers::MASAR;
use masar::auth::{AuthError, TokenStore, Unauthenticated};
use masar_domain::ids::OrganisationCode;
use masar_domain::values::Role;
use masar_projections::testing::{fresh_database, TestDatabase};

fn masar(db: &TestDatabase, args: &[&str]) -> Output {
    Command::new(MASAR)
        .args(args)
        .env("DATABASE_URL", &db.url)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn assert_success(output: &Output) {
    assert!(output.status.success(), "{}", stderr(output));
}

/// The one-line reason of a failed command.
fn assert_fails_with_one_line(output: &Output) -> String {
    assert!(!output.status.success(), "succeeded: {}", stdout(output));
    let stderr = stderr(output);
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("masar: "), "{stderr}");
    stderr
}

#[tokio::test]
async fn the_first_admin_is_bootstrapped_and_its_secret_alone_is_printed() {
    let db = fresh_database().await;
    let output = masar(
        &db,
        &[
            "token",
            "issue",
            "--organisation",
            "ENABEL",
            "--role",
            "admin",
            "--label",
            "bootstrap",
            "--organisation-name",
            "Enabel, Belgian development agency",
        ],
    );
    assert_success(&output);
    let printed = stdout(&output);
    assert!(printed.ends_with('\n'), "{printed:?}");
    let secret = printed.trim_end_matches('\n');
    assert!(!secret.contains(char::is_whitespace), "{printed:?}");
    assert!(secret.starts_with("masar_"), "{printed:?}");
    // Never on stderr.
    assert!(!stderr(&output).contains(secret));

    // The printed secret authenticates as an ADMIN of the organisation just registered.
    let store = TokenStore::new(db.pool.clone());
    let principal = store.authenticate(secret).await.unwrap();
    assert_eq!(principal.role, Role::Admin);
    assert_eq!(
        principal.organisation,
        OrganisationCode::parse("ENABEL").unwrap()
    );
    let registered: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE aggregate_type = 'Organisation' AND aggregate_id = 'ENABEL'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(registered, 1);

    // Bootstrapping again registers nothing more and issues another token.
    let again = masar(
        &db,
        &[
            "token",
            "issue",
            "--organisation",
            "ENABEL",
            "--role",
            "AUDITOR",
            "--label",
            "evaluator",
            "--organisation-name",
            "Enabel",
        ],
    );
    assert_success(&again);
    let auditor = stdout(&again);
    assert_ne!(auditor, printed);
    assert_eq!(
        store.authenticate(auditor.trim_end()).await.unwrap().role,
        Role::Auditor
    );
    let registered: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE aggregate_type = 'Organisation' AND aggregate_id = 'ENABEL'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(registered, 1);
}

#[tokio::test]
async fn a_revoked_token_no_longer_authenticates() {
    let db = fresh_database().await;
    let issued = masar(
        &db,
        &[
            "token",
            "issue",
            "--organisation",
            "REMESS",
            "--role",
            "Partner",
            "--label",
            "Rabat tablet",
            "--organisation-name",
            "REMESS",
        ],
    );
    assert_success(&issued);
    let secret = stdout(&issued).trim_end().to_owned();
    let store = TokenStore::new(db.pool.clone());
    let principal = store.authenticate(&secret).await.unwrap();
    // The id is on stderr, for revocation.
    assert!(
        stderr(&issued).contains(&principal.token_id.to_string()),
        "{}",
        stderr(&issued)
    );

    let revoked = masar(&db, &["token", "revoke", &principal.token_id.to_string()]);
    assert_success(&revoked);
    assert_eq!(stdout(&revoked).lines().count(), 1, "{}", stdout(&revoked));
    assert!(matches!(
        store.authenticate(&secret).await,
        Err(AuthError::Unauthenticated(Unauthenticated::RevokedToken))
    ));

    // An unknown id, and something that is not an id.
    let unknown = masar(
        &db,
        &["token", "revoke", "67e55044-10b1-426f-9247-bb680e5fe0c8"],
    );
    let reason = assert_fails_with_one_line(&unknown);
    assert!(
        reason.contains("67e55044-10b1-426f-9247-bb680e5fe0c8"),
        "{reason}"
    );
    assert_fails_with_one_line(&masar(&db, &["token", "revoke", "not-a-uuid"]));
}

#[tokio::test]
async fn issuing_for_an_unknown_organisation_without_a_name_fails_with_one_line() {
    let db = fresh_database().await;
    let output = masar(
        &db,
        &[
            "token",
            "issue",
            "--organisation",
            "NOBODY",
            "--role",
            "ADMIN",
            "--label",
            "bootstrap",
        ],
    );
    let reason = assert_fails_with_one_line(&output);
    assert!(reason.contains("NOBODY"), "{reason}");
    assert!(reason.contains("--organisation-name"), "{reason}");
    assert!(stdout(&output).is_empty());
    let tokens: i64 = sqlx::query_scalar("SELECT count(*) FROM api_tokens")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(tokens, 0);

    // A role that does not exist is refused the same way.
    let output = masar(
        &db,
        &[
            "token",
            "issue",
            "--organisation",
            "NOBODY",
            "--role",
            "root",
            "--label",
            "x",
            "--organisation-name",
            "Nobody",
        ],
    );
    let reason = assert_fails_with_one_line(&output);
    assert!(
        reason.contains("ADMIN, PARTNER, AUDITOR or DASHBOARD"),
        "{reason}"
    );
}
