//! Set-up shared by the GraphQL end-to-end tests, done over HTTP as an administrator would:
//! organisations, programmes and tokens, and the operations and submissions the tests send.

use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{spawn_app, TestApp};

/// `recordJourneyEvents` with every field of its payload.
pub const RECORD: &str = r#"
mutation Record($events: [JourneyEventSubmission!]!) {
  recordJourneyEvents(events: $events) {
    accepted duplicates rejected
    results { eventId status sequence error { code message field } }
  }
}"#;

/// `beneficiary(id)` with every field.
pub const BENEFICIARY: &str = r#"
query Beneficiary($id: UUID!) {
  beneficiary(id: $id) {
    id programmeCode partnerCode stage active sex birthYear ageBand nationality legalStatus
    region city identifiedAt consent personalDataErased version
    personalData { fullName phone documentNumber }
    journey { eventId sequence type occurredAt recordedAt recordedBy data retracted retractionReason }
  }
}"#;

/// `erasePersonalData` with the fields a test compares.
pub const ERASE: &str = r#"
mutation Erase($id: UUID!, $reason: String!) {
  erasePersonalData(beneficiaryId: $id, reason: $reason) {
    id stage consent personalDataErased personalData { fullName phone documentNumber } version
  }
}"#;

/// `stream(aggregateId)` with every field.
pub const STREAM: &str = r#"
query Stream($id: String!) {
  stream(aggregateId: $id) {
    globalPosition aggregateType aggregateId sequence eventType eventVersion payload metadata
    recordedAt hash previousHash
  }
}"#;

/// A fake, recognisable name: it must never appear in the event log.
pub const FULL_NAME: &str = "Aminata Qzxw-Testperson";

/// An ADMIN of ENABEL (bootstrapped on the command line), organisations REMESS and ANAPEC, the
/// AMUDDU-RSK programme with REMESS as partner, and a PARTNER token of REMESS.
pub struct World {
    /// The server.
    pub app: TestApp,
    /// The ADMIN token of ENABEL.
    pub admin: String,
    /// The PARTNER token of REMESS.
    pub partner: String,
}

/// [`World`] on a fresh server.
pub async fn world() -> World {
    world_on(spawn_app().await).await
}

/// [`World`] on `app`, a fresh server.
pub async fn world_on(app: TestApp) -> World {
    let admin = app.issue_token("ENABEL", "admin", Some("Enabel"));
    register_organisation(
        &app,
        &admin,
        "REMESS",
        "Réseau marocain de l'économie sociale",
    )
    .await;
    register_organisation(&app, &admin, "ANAPEC", "ANAPEC").await;
    let programme = register_programme(&app, &admin, "AMUDDU-RSK", &["REMESS"]).await;
    assert_eq!(
        programme,
        json!({
            "code": "AMUDDU-RSK", "name": "Amuddu", "country": "MA", "regions": ["MA-04"],
            "startDate": "2023-01-01", "endDate": null, "donors": [],
            "partners": [{ "code": "REMESS", "name": "Réseau marocain de l'économie sociale" }],
            "targets": [],
        })
    );
    let partner = issue(&app, &admin, "REMESS", "PARTNER").await;
    World {
        app,
        admin,
        partner,
    }
}

/// `registerOrganisation` (kind NGO) as `admin`, checking the answer.
pub async fn register_organisation(app: &TestApp, admin: &str, code: &str, name: &str) {
    let response = app
        .graphql(
            "mutation($input: RegisterOrganisationInput!) { registerOrganisation(input: $input) { code name kind } }",
            json!({ "input": { "code": code, "name": name, "kind": "NGO" } }),
            Some(admin),
        )
        .await;
    assert_eq!(
        response.data()["registerOrganisation"],
        json!({ "code": code, "name": name, "kind": "NGO" })
    );
}

/// `registerProgramme` as `admin`: programme `code` named "Amuddu", in Morocco, region MA-04,
/// started 2023-01-01, with `partners`. Returns the programme as the server answers it.
pub async fn register_programme(
    app: &TestApp,
    admin: &str,
    code: &str,
    partners: &[&str],
) -> Value {
    let response = app
        .graphql(
            r#"mutation($input: RegisterProgrammeInput!) {
                 registerProgramme(input: $input) {
                   code name country regions startDate endDate donors partners { code name } targets { indicator target }
                 }
               }"#,
            json!({ "input": {
                "code": code,
                "name": "Amuddu",
                "country": "MA",
                "regions": ["MA-04"],
                "startDate": "2023-01-01",
                "partnerCodes": partners,
            }}),
            Some(admin),
        )
        .await;
    response.data()["registerProgramme"].clone()
}

/// `issueApiToken` as `admin`: the secret.
pub async fn issue(app: &TestApp, admin: &str, organisation: &str, role: &str) -> String {
    issue_with_id(app, admin, organisation, role).await.1
}

/// `issueApiToken` as `admin`: the token's id and its secret.
pub async fn issue_with_id(
    app: &TestApp,
    admin: &str,
    organisation: &str,
    role: &str,
) -> (String, String) {
    let response = app
        .graphql(
            "mutation($org: String!, $role: Role!) { issueApiToken(organisationCode: $org, role: $role, label: \"e2e\") { id secret role organisation { code } } }",
            json!({ "org": organisation, "role": role }),
            Some(admin),
        )
        .await;
    let issued = &response.data()["issueApiToken"];
    assert_eq!(issued["role"], role);
    assert_eq!(issued["organisation"]["code"], organisation);
    (
        issued["id"].as_str().unwrap().to_owned(),
        issued["secret"].as_str().unwrap().to_owned(),
    )
}

/// One `JourneyEventSubmission`.
pub fn submission(event_id: Uuid, beneficiary: Uuid, occurred_at: &str, event: Value) -> Value {
    json!({
        "eventId": event_id,
        "beneficiaryId": beneficiary,
        "occurredAt": occurred_at,
        "event": event,
    })
}

/// An identification in AMUDDU-RSK with DATA_PROCESSING consent and [`FULL_NAME`].
pub fn identified() -> Value {
    identified_in(
        "AMUDDU-RSK",
        &["DATA_PROCESSING"],
        Some(json!({ "fullName": FULL_NAME, "phone": "+212600000000" })),
    )
}

/// An identification in `programme` (region MA-04) with `consent` and `personal_data`
/// (a `PersonalDataInput`, or none).
pub fn identified_in(programme: &str, consent: &[&str], personal_data: Option<Value>) -> Value {
    let mut identified = json!({
        "programmeCode": programme,
        "sex": "FEMALE",
        "birthYear": 1994,
        "nationality": "CI",
        "legalStatus": "REGULARISED_MIGRANT",
        "region": "MA-04",
        "city": "Rabat",
        "channel": "ASSOCIATION",
        "consent": consent,
    });
    if let Some(data) = personal_data {
        identified["personalData"] = data;
    }
    json!({ "identified": identified })
}

/// `recordJourneyEvents` of `events` as the bearer of `token`: the payload, checking the
/// request as a whole succeeded.
pub async fn record(app: &TestApp, token: &str, events: Vec<Value>) -> Value {
    app.graphql(RECORD, json!({ "events": events }), Some(token))
        .await
        .data()["recordJourneyEvents"]
        .clone()
}

/// The global log's head, read as `admin`.
pub async fn log_head(app: &TestApp, admin: &str) -> String {
    let response = app
        .graphql("{ eventLog(first: 0) { head } }", json!({}), Some(admin))
        .await;
    response.data()["eventLog"]["head"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// `beneficiary(id)` ([`BENEFICIARY`]) as the bearer of `token`: the beneficiary, or null.
pub async fn read_beneficiary(app: &TestApp, token: &str, id: Uuid) -> Value {
    app.graphql(BENEFICIARY, json!({ "id": id }), Some(token))
        .await
        .data()["beneficiary"]
        .clone()
}
