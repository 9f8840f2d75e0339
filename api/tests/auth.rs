//! API tokens on real PostgreSQL: issue, authenticate, revoke, the Authorization header, and
//! what the `api_tokens` table holds.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, HeaderValue};
use masar::auth::tokens::{hash_secret, SECRET_PREFIX};
use masar::auth::{
    principal_from_headers, AuthError, Principal, TokenError, TokenStore, Unauthenticated,
};
use masar::write::WriteSide;
use masar_domain::values::Role;
use masar_domain::ErrorCode;
use masar_projections::testing::fresh_database;
use uuid::Uuid;

use common::{envelope_exec_org, org};

/// A fresh database with ENABEL and REMESS registered, and its token store.
async fn store() -> (TokenStore, sqlx::PgPool) {
    let db = fresh_database().await;
    let write = WriteSide::new(db.pool.clone()).await.unwrap();
    envelope_exec_org(&write, "ENABEL").await;
    envelope_exec_org(&write, "REMESS").await;
    (TokenStore::new(db.pool.clone()), db.pool)
}

fn bearer(value: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(AUTHORIZATION, HeaderValue::from_str(value).unwrap());
    headers
}

fn unauthenticated(result: Result<Principal, AuthError>) -> Unauthenticated {
    match result {
        Err(AuthError::Unauthenticated(reason)) => reason,
        other => panic!("expected UNAUTHENTICATED, got {other:?}"),
    }
}

#[tokio::test]
async fn an_issued_token_authenticates_as_its_organisation_and_role() {
    let (store, _) = store().await;
    let issued = store
        .issue(&org("REMESS"), Role::Partner, "Rabat field office")
        .await
        .unwrap();
    assert!(issued.secret.starts_with(SECRET_PREFIX));
    assert_eq!(issued.role, Role::Partner);
    assert_eq!(issued.organisation, org("REMESS"));

    let expected = Principal {
        token_id: issued.id,
        organisation: org("REMESS"),
        role: Role::Partner,
    };
    assert_eq!(store.authenticate(&issued.secret).await.unwrap(), expected);
    let from_header = principal_from_headers(&store, &bearer(&format!("Bearer {}", issued.secret)))
        .await
        .unwrap();
    assert_eq!(from_header, expected);
    assert_eq!(from_header.actor().role, Role::Partner);

    // Each token is its own: another one for the same organisation has another id and secret.
    let admin = store
        .issue(&org("ENABEL"), Role::Admin, "operator")
        .await
        .unwrap();
    assert_ne!(admin.id, issued.id);
    assert_ne!(admin.secret, issued.secret);
    assert_eq!(
        store.authenticate(&admin.secret).await.unwrap().role,
        Role::Admin
    );
}

#[tokio::test]
async fn wrong_missing_malformed_and_revoked_tokens_are_unauthenticated() {
    let (store, _) = store().await;
    let issued = store
        .issue(&org("REMESS"), Role::Partner, "tablet")
        .await
        .unwrap();

    // A well-formed secret that was never issued: one character changed.
    let mut wrong = issued.secret.clone();
    let last = if wrong.ends_with('A') { "B" } else { "A" };
    wrong.replace_range(wrong.len() - 1.., last);
    assert_eq!(
        unauthenticated(store.authenticate(&wrong).await),
        Unauthenticated::UnknownToken
    );
    // Not a Masar token at all.
    assert_eq!(
        unauthenticated(store.authenticate("hunter2").await),
        Unauthenticated::NotAMasarToken
    );
    // Headers.
    assert_eq!(
        unauthenticated(principal_from_headers(&store, &HeaderMap::new()).await),
        Unauthenticated::MissingHeader
    );
    for malformed in [
        issued.secret.clone(),
        format!("Basic {}", issued.secret),
        "Bearer".to_owned(),
    ] {
        assert_eq!(
            unauthenticated(principal_from_headers(&store, &bearer(&malformed)).await),
            Unauthenticated::MalformedHeader,
            "{malformed}"
        );
    }

    // Revoked: refused from then on, with its own message.
    assert!(store.revoke(issued.id).await.unwrap());
    let error = principal_from_headers(&store, &bearer(&format!("Bearer {}", issued.secret)))
        .await
        .unwrap_err();
    assert_eq!(error.code(), ErrorCode::Unauthenticated);
    assert!(matches!(
        error,
        AuthError::Unauthenticated(Unauthenticated::RevokedToken)
    ));
    assert!(error.to_string().contains("revoked"), "{error}");
    // Revoking again is harmless; an unknown id is reported.
    assert!(store.revoke(issued.id).await.unwrap());
    assert!(!store.revoke(Uuid::new_v4()).await.unwrap());
}

#[tokio::test]
async fn revoking_one_token_leaves_the_others_working() {
    let (store, _) = store().await;
    let a = store
        .issue(&org("REMESS"), Role::Partner, "a")
        .await
        .unwrap();
    let b = store
        .issue(&org("REMESS"), Role::Partner, "b")
        .await
        .unwrap();
    assert!(store.revoke(a.id).await.unwrap());
    let error = store.authenticate(&a.secret).await.unwrap_err();
    assert!(
        matches!(
            error,
            AuthError::Unauthenticated(Unauthenticated::RevokedToken)
        ),
        "{error:?}"
    );
    assert_eq!(store.authenticate(&b.secret).await.unwrap().token_id, b.id);
}

#[tokio::test]
async fn the_table_holds_hashes_never_secrets() {
    let (store, pool) = store().await;
    let mut secrets = Vec::new();
    for role in Role::ALL {
        secrets.push(store.issue(&org("ENABEL"), *role, "label").await.unwrap());
    }
    let rows: Vec<String> = sqlx::query_scalar("SELECT row_to_json(t)::text FROM api_tokens t")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(rows.len(), Role::ALL.len());
    let dump = rows.join("\n");
    for issued in &secrets {
        let random_part = &issued.secret[SECRET_PREFIX.len()..];
        assert!(!dump.contains(random_part), "secret in clear: {dump}");
        assert!(dump.contains(&hash_secret(&issued.secret)));
    }
    let hashes: Vec<String> = sqlx::query_scalar("SELECT secret_hash FROM api_tokens")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert!(hashes
        .iter()
        .all(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit())));
}

#[tokio::test]
async fn issuing_for_an_unknown_organisation_or_without_a_label_is_refused() {
    let (store, pool) = store().await;
    let error = store
        .issue(&org("NOBODY"), Role::Admin, "bootstrap")
        .await
        .unwrap_err();
    assert!(
        matches!(&error, TokenError::UnknownOrganisation { organisation } if *organisation == org("NOBODY")),
        "{error:?}"
    );
    assert_eq!(error.code(), ErrorCode::UnknownOrganisation);
    assert!(error.to_string().contains("NOBODY"), "{error}");

    let error = store
        .issue(&org("REMESS"), Role::Partner, "   ")
        .await
        .unwrap_err();
    assert_eq!(error.code(), ErrorCode::Validation);

    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM api_tokens")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(stored, 0);
}

#[tokio::test]
async fn the_table_accepts_only_the_four_roles() {
    let (_, pool) = store().await;
    let inserted = sqlx::query(
        "INSERT INTO api_tokens (id, organisation_code, role, label, secret_hash) \
         VALUES ($1, 'REMESS', 'ROOT', 'x', $2)",
    )
    .bind(Uuid::new_v4())
    .bind(hash_secret("x"))
    .execute(&pool)
    .await
    .unwrap_err();
    let error = inserted.as_database_error().unwrap();
    // check_violation, of the role column's CHECK.
    assert_eq!(error.code().as_deref(), Some("23514"), "{error}");
    assert_eq!(error.constraint(), Some("api_tokens_role_check"), "{error}");
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM api_tokens")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(stored, 0);
}
