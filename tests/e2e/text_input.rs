//! Text PostgreSQL cannot store (NUL, in text and JSON alike) and control characters nobody
//! types on purpose: refused as VALIDATION naming the field, never an INTERNAL error. One such
//! item of a batch fails no other, and an erasure refused for its reason destroys nothing.

use std::process::Command;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::fixtures::{
    identified, identified_in, log_head, read_beneficiary, record, submission, world, ERASE,
    FULL_NAME,
};
use crate::helpers::MASAR;

/// The result of `results[index]`: its status, error code and field.
fn outcome(payload: &Value, index: usize) -> (String, Value, Value) {
    let result = &payload["results"][index];
    (
        result["status"].as_str().unwrap().to_owned(),
        result["error"]["code"].clone(),
        result["error"]["field"].clone(),
    )
}

#[tokio::test]
async fn a_nul_in_one_item_of_a_batch_rejects_that_item_and_no_other() {
    let world = world().await;
    let app = &world.app;
    let (b1, b2, b3) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let mut with_nul_city = identified_in("AMUDDU-RSK", &[], None);
    with_nul_city["identified"]["city"] = json!("Rabat\u{0}");
    let with_nul_name = identified_in(
        "AMUDDU-RSK",
        &["DATA_PROCESSING"],
        Some(json!({ "fullName": "Ami\u{0}nata" })),
    );
    let events = vec![
        submission(Uuid::new_v4(), b1, "2024-03-01T09:00:00Z", identified()),
        submission(
            Uuid::new_v4(),
            b1,
            "2024-03-02T09:00:00Z",
            json!({ "sensitised": { "topic": "Droits\u{0}du travail" } }),
        ),
        submission(
            Uuid::new_v4(),
            b1,
            "2024-03-02T10:00:00Z",
            json!({ "sensitised": { "topic": "Droits du travail" } }),
        ),
        submission(Uuid::new_v4(), b2, "2024-03-01T09:00:00Z", with_nul_city),
        submission(Uuid::new_v4(), b3, "2024-03-01T09:00:00Z", with_nul_name),
        submission(
            Uuid::new_v4(),
            b1,
            "2024-03-03T09:00:00Z",
            json!({ "trainingEnrolled": { "courseCode": "WELD\u{0}01", "courseName": "Soudure", "kind": "VOCATIONAL", "plannedSessions": 2 } }),
        ),
        submission(
            Uuid::new_v4(),
            b1,
            "2024-03-03T10:00:00Z",
            json!({ "skillsAssessed": { "skills": ["couture"], "notes": "\u{1b}[2J" } }),
        ),
    ];
    let payload = record(app, &world.partner, events).await;
    assert_eq!(payload["accepted"], 2, "{payload:#}");
    assert_eq!(payload["rejected"], 5, "{payload:#}");
    let accepted = || (String::from("ACCEPTED"), Value::Null, Value::Null);
    let invalid = |field: &str| (String::from("REJECTED"), json!("VALIDATION"), json!(field));
    let expected = [
        accepted(),
        invalid("topic"),
        accepted(),
        invalid("city"),
        invalid("fullName"),
        invalid("courseCode"),
        invalid("notes"),
    ];
    for (index, expected) in expected.into_iter().enumerate() {
        assert_eq!(outcome(&payload, index), expected, "{index}: {payload:#}");
    }
    let message = payload["results"][1]["error"]["message"].as_str().unwrap();
    assert!(message.contains("control character"), "{message}");
    let read = read_beneficiary(app, &world.partner, b1).await;
    assert_eq!(read["journey"].as_array().unwrap().len(), 2, "{read:#}");
    for refused in [b2, b3] {
        assert_eq!(
            read_beneficiary(app, &world.admin, refused).await,
            Value::Null
        );
    }
}

#[tokio::test]
async fn an_erasure_refused_for_its_reason_destroys_nothing() {
    let world = world().await;
    let app = &world.app;
    let id = Uuid::new_v4();
    let payload = record(
        app,
        &world.partner,
        vec![submission(
            Uuid::new_v4(),
            id,
            "2024-03-01T09:00:00Z",
            identified(),
        )],
    )
    .await;
    assert_eq!(payload["accepted"], 1, "{payload:#}");
    let head = log_head(app, &world.admin).await;

    for reason in ["asked\u{0}", "asked \u{7f}"] {
        let response = app
            .graphql(
                ERASE,
                json!({ "id": id, "reason": reason }),
                Some(&world.partner),
            )
            .await;
        let (code, _, field) = response.single_error();
        assert_eq!(code, "VALIDATION", "{:#}", response.body);
        assert_eq!(field.as_deref(), Some("reason"));
    }

    // The key is still there: the personal data still reads, and nothing was recorded.
    let read = read_beneficiary(app, &world.partner, id).await;
    assert_eq!(read["personalData"]["fullName"], FULL_NAME, "{read:#}");
    assert_eq!(read["personalDataErased"], false);
    let keys: i64 =
        sqlx::query_scalar("SELECT count(*) FROM personal_data_keys WHERE beneficiary_id = $1")
            .bind(id)
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(keys, 1);
    assert_eq!(log_head(app, &world.admin).await, head);
}

#[tokio::test]
async fn query_arguments_with_a_nul_are_refused_not_failed() {
    let world = world().await;
    let app = &world.app;
    let cursor = URL_SAFE_NO_PAD.encode("1:\u{0}");
    let cases = [
        (
            "query($v: String!) { programme(code: $v) { code } }",
            "A\u{0}",
            "code",
        ),
        (
            "query($v: String) { beneficiaries(programmeCode: $v) { totalCount } }",
            "AMUDDU\u{0}",
            "programmeCode",
        ),
        (
            "query($v: String) { beneficiaries(region: $v) { totalCount } }",
            "MA-04\u{0}",
            "region",
        ),
        (
            "query($v: String) { beneficiaries(after: $v) { totalCount } }",
            cursor.as_str(),
            "after",
        ),
        (
            "query($v: String!) { indicators(programmeCode: $v) { programmeCode } }",
            "\u{0}",
            "programmeCode",
        ),
        (
            "query($v: String!) { stream(aggregateId: $v) { sequence } }",
            "\u{0}",
            "aggregateId",
        ),
    ];
    for (query, value, field) in cases {
        let response = app
            .graphql(query, json!({ "v": value }), Some(&world.admin))
            .await;
        let (code, _, named) = response.single_error();
        assert_eq!(code, "VALIDATION", "{query}: {:#}", response.body);
        assert_eq!(named.as_deref(), Some(field), "{query}");
    }
    // The same arguments without the NUL are answered.
    let response = app
        .graphql(
            "query($v: String!) { programme(code: $v) { code } }",
            json!({ "v": "AMUDDU-RSK" }),
            Some(&world.admin),
        )
        .await;
    assert_eq!(response.data()["programme"]["code"], "AMUDDU-RSK");
}

#[tokio::test]
async fn administration_texts_with_a_control_character_are_refused() {
    let world = world().await;
    let app = &world.app;
    let head = log_head(app, &world.admin).await;
    let cases = [
        (
            "mutation { registerOrganisation(input: { code: \"NULORG\", name: \"Nul\\u0000\" }) { code } }",
            json!({}),
            "name",
        ),
        (
            "mutation($input: RegisterProgrammeInput!) { registerProgramme(input: $input) { code } }",
            json!({ "input": {
                "code": "NULPROG", "name": "Nul", "country": "MA", "regions": ["MA-04"],
                "startDate": "2023-01-01", "partnerCodes": ["REMESS"], "description": "x\u{0}",
            }}),
            "description",
        ),
        (
            "mutation($label: String!) { issueApiToken(organisationCode: \"REMESS\", role: PARTNER, label: $label) { id } }",
            json!({ "label": "tablette\u{0}" }),
            "label",
        ),
    ];
    for (query, variables, field) in cases {
        let response = app.graphql(query, variables, Some(&world.admin)).await;
        let (code, _, named) = response.single_error();
        assert_eq!(code, "VALIDATION", "{query}: {:#}", response.body);
        assert_eq!(named.as_deref(), Some(field), "{query}");
    }
    let response = app
        .graphql(
            "mutation($input: ProgrammeActivitySubmission!) { recordProgrammeActivity(input: $input) { status error { code field } } }",
            json!({ "input": {
                "activityId": Uuid::new_v4(), "programmeCode": "AMUDDU-RSK",
                "occurredAt": "2024-04-01T10:00:00Z",
                "activity": { "companyEngaged": { "companyName": "Atlas\u{0}", "rseLabelled": true } },
            }}),
            Some(&world.partner),
        )
        .await;
    assert_eq!(
        response.data()["recordProgrammeActivity"],
        json!({ "status": "REJECTED", "error": { "code": "VALIDATION", "field": "companyName" } })
    );
    assert_eq!(log_head(app, &world.admin).await, head);

    // A command line cannot carry a NUL, but it can carry an escape sequence.
    let output = Command::new(MASAR)
        .args([
            "token",
            "issue",
            "--organisation",
            "REMESS",
            "--role",
            "partner",
            "--label",
            "e2e\u{1b}[31m",
        ])
        .env("DATABASE_URL", &app.db.url)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("label"), "{stderr}");
}
