//! What one request may cost: fields that read much more than they return are priced at what
//! they read, so that a request asking for many of them is refused up front with
//! QUERY_TOO_COMPLEX, and no breakdown answers more cells than a reader can use.

use serde_json::json;

use crate::fixtures::{issue, world};

/// `count` aliases of `field` in one query.
fn aliases(field: &str, count: usize) -> String {
    let fields: Vec<String> = (0..count).map(|n| format!("a{n}: {field}")).collect();
    format!("{{ {} }}", fields.join(" "))
}

const EVERY_DIMENSION: &str =
    "[SEX, AGE_BAND, REGION, PARTNER, NATIONALITY, LEGAL_STATUS, MONTH, QUARTER]";

#[tokio::test]
async fn requests_for_many_expensive_fields_are_refused_up_front() {
    let world = world().await;
    let (app, admin) = (&world.app, &world.admin);
    let auditor = issue(app, admin, "ENABEL", "AUDITOR").await;
    let dashboard = issue(app, admin, "ENABEL", "DASHBOARD").await;
    let head_before = crate::fixtures::log_head(app, admin).await;

    let refused = [
        // 70 verifications of the whole log held the pool for 30 s.
        (
            &auditor,
            aliases("verifyIntegrity { ok }", 70),
        ),
        (&auditor, aliases("verifyIntegrity { ok }", 2)),
        // 40 as-of reports, each refolding every stream of the programme.
        (
            &auditor,
            aliases(
                "indicators(programmeCode: \"AMUDDU-RSK\", asOf: \"2030-01-01T00:00:00Z\") { position }",
                40,
            ),
        ),
        // Four breakdowns by every dimension: 124 MB of answer on the demo's data.
        (
            &dashboard,
            aliases(
                &format!(
                    "indicators(programmeCode: \"AMUDDU-RSK\", disaggregateBy: {EVERY_DIMENSION}) {{ position }}"
                ),
                4,
            ),
        ),
    ];
    for (token, query) in refused {
        let response = app.graphql(&query, json!({}), Some(token)).await;
        let (code, message, _) = response.single_error();
        assert_eq!(code, "QUERY_TOO_COMPLEX", "{query}: {message}");
        assert!(message.contains("1000"), "{message}");
        assert!(response.body["data"].is_null(), "{:#}", response.body);
    }

    // One of each is answered.
    let allowed = [
        (&auditor, "{ verifyIntegrity { ok } }".to_owned()),
        (
            &auditor,
            "{ indicators(programmeCode: \"AMUDDU-RSK\", asOf: \"2030-01-01T00:00:00Z\") { position } }"
                .to_owned(),
        ),
        (
            &dashboard,
            format!(
                "{{ indicators(programmeCode: \"AMUDDU-RSK\", disaggregateBy: {EVERY_DIMENSION}) {{ position }} }}"
            ),
        ),
    ];
    for (token, query) in allowed {
        let response = app.graphql(&query, json!({}), Some(token)).await;
        response.data();
    }
    assert_eq!(crate::fixtures::log_head(app, admin).await, head_before);
}

#[tokio::test]
async fn protected_roles_read_published_periods_only_and_never_as_of() {
    let world = world().await;
    let (app, admin, partner) = (&world.app, &world.admin, &world.partner);
    let auditor = issue(app, admin, "ENABEL", "AUDITOR").await;
    let dashboard = issue(app, admin, "ENABEL", "DASHBOARD").await;
    let query = "query($period: PeriodInput, $asOf: DateTime) { indicators(programmeCode: \"AMUDDU-RSK\", period: $period, asOf: $asOf) { period { from to } } }";
    let period = |from: &str, to: &str| json!({ "period": { "from": from, "to": to } });
    let published = [
        json!({}),
        period("2024-09-01", "2024-09-30"),
        period("2024-07-01", "2024-09-30"),
        period("2023-01-01", "2023-12-31"),
    ];
    let unpublished = [
        // Two periods a day apart, or a month apart from an arbitrary day, difference down
        // to the people of that day or month.
        period("2024-09-02", "2024-09-30"),
        period("2024-08-01", "2024-09-30"),
        period("2023-02-01", "2024-01-31"),
    ];
    for token in [partner, &dashboard] {
        for variables in &published {
            app.graphql(query, variables.clone(), Some(token))
                .await
                .data();
        }
        for variables in &unpublished {
            let response = app.graphql(query, variables.clone(), Some(token)).await;
            let (code, message, field) = response.single_error();
            assert_eq!(
                (code.as_str(), field.as_deref()),
                ("VALIDATION", Some("period")),
                "{message}"
            );
            assert!(message.contains("calendar month"), "{message}");
        }
        let response = app
            .graphql(
                query,
                json!({ "asOf": "2024-09-30T00:00:00Z" }),
                Some(token),
            )
            .await;
        let (code, message, field) = response.single_error();
        assert_eq!(
            (code.as_str(), field.as_deref()),
            ("FORBIDDEN", Some("asOf")),
            "{message}"
        );
    }
    // ADMIN and AUDITOR read any period, as known at any time.
    for token in [admin, &auditor] {
        for variables in unpublished
            .iter()
            .chain([&json!({ "asOf": "2024-09-30T00:00:00Z" })])
        {
            app.graphql(query, variables.clone(), Some(token))
                .await
                .data();
        }
    }
}
