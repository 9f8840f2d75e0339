//! What each role may and may not do, over HTTP only: two programmes (AMUDDU-RSK with partners
//! REMESS and ANAPEC, WORK4LIFE with partner CEFA), a PARTNER token of each of those
//! organisations, and an ADMIN, an AUDITOR and a DASHBOARD token of ENABEL. Every refused
//! write leaves the log (and the token and key tables) as it was.

use serde_json::{json, Value};
use uuid::Uuid;

use crate::fixtures::{
    identified_in, issue, issue_with_id, log_head, read_beneficiary, record, register_organisation,
    register_programme, submission, RECORD,
};
use crate::helpers::{spawn_app, GraphqlResponse, TestApp};

/// Partners of P1.
const P1: &str = "AMUDDU-RSK";
/// Partner CEFA only.
const P2: &str = "WORK4LIFE";

/// The partner organisations registered (besides ENABEL, registered when its ADMIN token is
/// issued), with names that are not their codes.
const ORGANISATIONS: [(&str, &str); 3] = [
    (
        "REMESS",
        "Réseau Marocain de l'Economie Sociale et Solidaire",
    ),
    (
        "ANAPEC",
        "Agence Nationale de Promotion de l'Emploi et des Compétences",
    ),
    ("CEFA", "Comitato Europeo per la Formazione e l'Agricoltura"),
];

const NAME_X: &str = "Fatou Wqzy-Rolecheck";
const NAME_Y: &str = "Idrissa Vkjq-Rolecheck";

/// The callers, in the order of every table below.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    /// ADMIN of ENABEL.
    Admin,
    /// PARTNER of REMESS: a partner of P1, identified x.
    A,
    /// PARTNER of ANAPEC: a partner of P1, neither identified nor (yet) referred x.
    B,
    /// PARTNER of CEFA: a partner of P2 only, identified y.
    C,
    /// AUDITOR of ENABEL.
    Auditor,
    /// DASHBOARD of ENABEL.
    Dashboard,
}

const EVERYONE: [Caller; 6] = [
    Caller::Admin,
    Caller::A,
    Caller::B,
    Caller::C,
    Caller::Auditor,
    Caller::Dashboard,
];

/// The server, a token per caller, and two beneficiaries with personal data: x identified by
/// REMESS in P1 (2024-03-01) and y identified by CEFA in P2 (2024-03-02).
struct Roles {
    app: TestApp,
    admin: String,
    a: String,
    b: String,
    c: String,
    auditor: String,
    dashboard: String,
    /// Id of B's token.
    b_token_id: String,
    x: Uuid,
    y: Uuid,
    /// The event id of x's identification.
    x_identified: Uuid,
}

impl Roles {
    fn token(&self, caller: Caller) -> &str {
        match caller {
            Caller::Admin => &self.admin,
            Caller::A => &self.a,
            Caller::B => &self.b,
            Caller::C => &self.c,
            Caller::Auditor => &self.auditor,
            Caller::Dashboard => &self.dashboard,
        }
    }

    /// What a refused write must leave untouched: the log head, the number of tokens and of
    /// revoked tokens, and the number of personal data keys.
    async fn fingerprint(&self) -> (String, i64, i64, i64) {
        let (tokens, revoked): (i64, i64) =
            sqlx::query_as("SELECT count(*), count(revoked_at) FROM api_tokens")
                .fetch_one(&self.app.db.pool)
                .await
                .unwrap();
        let keys: i64 = sqlx::query_scalar("SELECT count(*) FROM personal_data_keys")
            .fetch_one(&self.app.db.pool)
            .await
            .unwrap();
        (
            log_head(&self.app, &self.admin).await,
            tokens,
            revoked,
            keys,
        )
    }
}

async fn roles() -> Roles {
    let app = spawn_app().await;
    let admin = app.issue_token("ENABEL", "admin", Some("Enabel"));
    for (code, name) in ORGANISATIONS {
        register_organisation(&app, &admin, code, name).await;
    }
    register_programme(&app, &admin, P1, &["REMESS", "ANAPEC"]).await;
    register_programme(&app, &admin, P2, &["CEFA"]).await;
    let a = issue(&app, &admin, "REMESS", "PARTNER").await;
    let (b_token_id, b) = issue_with_id(&app, &admin, "ANAPEC", "PARTNER").await;
    let c = issue(&app, &admin, "CEFA", "PARTNER").await;
    let auditor = issue(&app, &admin, "ENABEL", "AUDITOR").await;
    let dashboard = issue(&app, &admin, "ENABEL", "DASHBOARD").await;

    let x = Uuid::new_v4();
    let y = Uuid::new_v4();
    let x_identified = Uuid::new_v4();
    for (token, event_id, beneficiary, programme, date, name) in [
        (&a, x_identified, x, P1, "2024-03-01T09:00:00Z", NAME_X),
        (&c, Uuid::new_v4(), y, P2, "2024-03-02T09:00:00Z", NAME_Y),
    ] {
        let payload = record(
            &app,
            token,
            vec![submission(
                event_id,
                beneficiary,
                date,
                identified_in(
                    programme,
                    &["DATA_PROCESSING"],
                    Some(json!({ "fullName": name })),
                ),
            )],
        )
        .await;
        assert_eq!(payload["accepted"], 1, "{payload:#}");
    }
    Roles {
        app,
        admin,
        a,
        b,
        c,
        auditor,
        dashboard,
        b_token_id,
        x,
        y,
        x_identified,
    }
}

/// What a request is expected to give.
#[derive(Debug, Clone)]
enum Expect {
    /// No error, and the top-level field is this value.
    Is(Value),
    /// Allowed: no error, and the top-level field is answered (not null).
    Allowed,
    /// No error, and the top-level field is null (what the caller may not see does not exist
    /// for them).
    Null,
    /// Refused as a whole: one FORBIDDEN error and no data.
    Forbidden,
    /// Answered, with its one item REJECTED with FORBIDDEN.
    ItemForbidden,
}

/// The first (only) top-level field of a query, e.g. `beneficiary` in `query($id: UUID!) {
/// beneficiary(id: $id) { id } }`.
fn top_field(query: &str) -> String {
    let body = &query[query.find('{').unwrap() + 1..];
    body.trim_start()
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .next()
        .unwrap()
        .to_owned()
}

#[track_caller]
fn check(response: &GraphqlResponse, query: &str, expect: &Expect, context: &str) {
    let field = top_field(query);
    match expect {
        Expect::Is(value) => {
            assert_eq!(&response.data()[&field], value, "{context}");
        }
        Expect::Null => {
            assert_eq!(response.data()[&field], Value::Null, "{context}");
        }
        Expect::Allowed => {
            assert!(
                response.errors().is_empty(),
                "{context}: {:#}",
                response.body
            );
            assert_ne!(response.data()[&field], Value::Null, "{context}");
        }
        Expect::Forbidden => {
            let (code, message, _) = response.single_error();
            assert_eq!(code, "FORBIDDEN", "{context}: {:#}", response.body);
            assert!(!message.is_empty(), "{context}");
            assert_eq!(response.body["data"], Value::Null, "{context}");
        }
        Expect::ItemForbidden => {
            let data = &response.data()[&field];
            let item = if field == "recordJourneyEvents" {
                assert_eq!(data["rejected"], 1, "{context}: {data:#}");
                assert_eq!(data["accepted"], 0, "{context}: {data:#}");
                data["results"][0].clone()
            } else {
                data.clone()
            };
            assert_eq!(item["status"], "REJECTED", "{context}: {item:#}");
            assert_eq!(item["error"]["code"], "FORBIDDEN", "{context}: {item:#}");
            assert_eq!(item["sequence"], Value::Null, "{context}: {item:#}");
        }
    }
}

/// One row of a table: an operation, its variables, and what each caller listed gets.
type Case = (&'static str, Value, Vec<(Caller, Expect)>);

/// `expect` given per caller, in the order of [`EVERYONE`].
fn per_caller(expect: [Expect; 6]) -> Vec<(Caller, Expect)> {
    EVERYONE.into_iter().zip(expect).collect()
}

#[tokio::test]
async fn every_role_reads_what_the_policy_allows_and_nothing_more() {
    let world = roles().await;
    let (x, y) = (world.x, world.y);
    let who = |role: &str, org: &str| json!({ "role": role, "organisation": { "code": org } });
    let programme_codes = json!([{ "code": P1 }, { "code": P2 }]);
    // Every registered organisation, by code, as registered: ENABEL by `masar token issue`
    // (no kind), the partners by `registerOrganisation`.
    let mut organisations: Vec<(&str, &str, Value)> = ORGANISATIONS
        .iter()
        .map(|&(code, name)| (code, name, json!("NGO")))
        .collect();
    organisations.push(("ENABEL", "Enabel", Value::Null));
    organisations.sort_by_key(|&(code, _, _)| code);
    let organisations: Value = organisations
        .into_iter()
        .map(|(code, name, kind)| json!({ "code": code, "name": name, "kind": kind }))
        .collect();
    let x_seen = json!({ "id": x, "partnerCode": "REMESS", "programmeCode": P1 });
    let names = |names: &[Option<&str>]| {
        let edges: Vec<Value> = names
            .iter()
            .map(|name| match name {
                Some(name) => json!({ "node": { "personalData": { "fullName": name } } }),
                None => json!({ "node": { "personalData": null } }),
            })
            .collect();
        json!({ "edges": edges })
    };
    let head = log_head(&world.app, &world.admin).await;
    let x_stream = json!([{ "sequence": 1, "eventType": "Identified" }]);
    use Expect::{Allowed, Forbidden, Is, Null};

    let table: Vec<Case> = vec![
        (
            "{ me { role organisation { code } } }",
            json!({}),
            per_caller([
                Is(who("ADMIN", "ENABEL")),
                Is(who("PARTNER", "REMESS")),
                Is(who("PARTNER", "ANAPEC")),
                Is(who("PARTNER", "CEFA")),
                Is(who("AUDITOR", "ENABEL")),
                Is(who("DASHBOARD", "ENABEL")),
            ]),
        ),
        (
            "{ organisations { code name kind } }",
            json!({}),
            per_caller(std::array::from_fn(|_| Is(organisations.clone()))),
        ),
        (
            "{ programmes { code } }",
            json!({}),
            per_caller(std::array::from_fn(|_| Is(programme_codes.clone()))),
        ),
        (
            "query($code: String!) { programme(code: $code) { code partners { code } } }",
            json!({ "code": P1 }),
            per_caller(std::array::from_fn(|_| {
                Is(json!({ "code": P1, "partners": [{ "code": "REMESS" }, { "code": "ANAPEC" }] }))
            })),
        ),
        (
            "query($id: UUID!) { beneficiary(id: $id) { id partnerCode programmeCode } }",
            json!({ "id": x }),
            per_caller([
                Is(x_seen.clone()),
                Is(x_seen.clone()),
                Null,
                Null,
                Is(x_seen.clone()),
                Null,
            ]),
        ),
        (
            "query($id: UUID!) { beneficiary(id: $id) { personalData { fullName } personalDataErased } }",
            json!({ "id": x }),
            per_caller([
                Is(json!({ "personalData": { "fullName": NAME_X }, "personalDataErased": false })),
                Is(json!({ "personalData": { "fullName": NAME_X }, "personalDataErased": false })),
                Null,
                Null,
                Is(json!({ "personalData": null, "personalDataErased": false })),
                Null,
            ]),
        ),
        (
            "query($id: UUID!) { beneficiary(id: $id) { partnerCode } }",
            json!({ "id": y }),
            per_caller([
                Is(json!({ "partnerCode": "CEFA" })),
                Null,
                Null,
                Is(json!({ "partnerCode": "CEFA" })),
                Is(json!({ "partnerCode": "CEFA" })),
                Null,
            ]),
        ),
        (
            "{ beneficiaries { totalCount } }",
            json!({}),
            per_caller([
                Is(json!({ "totalCount": 2 })),
                Is(json!({ "totalCount": 1 })),
                Is(json!({ "totalCount": 0 })),
                Is(json!({ "totalCount": 1 })),
                Is(json!({ "totalCount": 2 })),
                Forbidden,
            ]),
        ),
        (
            "query($p: String) { beneficiaries(programmeCode: $p) { totalCount } }",
            json!({ "p": P1 }),
            per_caller([
                Is(json!({ "totalCount": 1 })),
                Is(json!({ "totalCount": 1 })),
                Is(json!({ "totalCount": 0 })),
                Is(json!({ "totalCount": 0 })),
                Is(json!({ "totalCount": 1 })),
                Forbidden,
            ]),
        ),
        (
            "{ beneficiaries { edges { node { personalData { fullName } } } } }",
            json!({}),
            per_caller([
                Is(names(&[Some(NAME_X), Some(NAME_Y)])),
                Is(names(&[Some(NAME_X)])),
                Is(names(&[])),
                Is(names(&[Some(NAME_Y)])),
                Is(names(&[None, None])),
                Forbidden,
            ]),
        ),
        (
            "{ eventLog(first: 0) { head } }",
            json!({}),
            per_caller([
                Is(json!({ "head": head })),
                Forbidden,
                Forbidden,
                Forbidden,
                Is(json!({ "head": head })),
                Forbidden,
            ]),
        ),
        (
            "query($id: String!) { stream(aggregateId: $id) { sequence eventType } }",
            json!({ "id": x.to_string() }),
            per_caller([
                Is(x_stream.clone()),
                Forbidden,
                Forbidden,
                Forbidden,
                Is(x_stream.clone()),
                Forbidden,
            ]),
        ),
        (
            "{ verifyIntegrity { ok } }",
            json!({}),
            per_caller([
                Is(json!({ "ok": true })),
                Forbidden,
                Forbidden,
                Forbidden,
                Is(json!({ "ok": true })),
                Forbidden,
            ]),
        ),
        (
            "query($p: String!) { indicators(programmeCode: $p) { programmeCode } }",
            json!({ "p": P1 }),
            per_caller(std::array::from_fn(|_| Is(json!({ "programmeCode": P1 })))),
        ),
        (
            "{ projections { name } }",
            json!({}),
            per_caller([Allowed, Allowed, Allowed, Allowed, Allowed, Allowed]),
        ),
    ];

    for (query, variables, expectations) in table {
        for (caller, expect) in expectations {
            let response = world
                .app
                .graphql(query, variables.clone(), Some(world.token(caller)))
                .await;
            check(&response, query, &expect, &format!("{caller:?}: {query}"));
        }
    }

    // The auditor reads the whole log, every event of it.
    let log = world
        .app
        .graphql(
            "{ eventLog { head events { globalPosition } } }",
            json!({}),
            Some(&world.auditor),
        )
        .await;
    let log = &log.data()["eventLog"];
    let events = log["events"].as_array().unwrap();
    assert_eq!(events.last().unwrap()["globalPosition"], log["head"]);
    assert_eq!(
        events.len().to_string(),
        log["head"].as_str().unwrap(),
        "{log:#}"
    );
}

#[tokio::test]
async fn refused_writes_are_forbidden_and_change_nothing() {
    let world = roles().await;
    let (x, y) = (world.x, world.y);
    use Expect::{Forbidden, ItemForbidden};

    let register_organisation = (
        "mutation { registerOrganisation(input: { code: \"INTRUDER\", name: \"Intruder\" }) { code } }",
        json!({}),
    );
    let register_programme = (
        "mutation($input: RegisterProgrammeInput!) { registerProgramme(input: $input) { code } }",
        json!({ "input": {
            "code": "ROGUE", "name": "Rogue", "country": "MA", "regions": ["MA-04"],
            "startDate": "2023-01-01", "partnerCodes": ["REMESS"],
        }}),
    );
    let set_target = (
        "mutation($p: String!) { setIndicatorTarget(programmeCode: $p, indicator: IDENTIFIED, target: 10) { code } }",
        json!({ "p": P1 }),
    );
    let issue_admin = (
        "mutation { issueApiToken(organisationCode: \"REMESS\", role: ADMIN, label: \"escalation\") { id secret } }",
        json!({}),
    );
    let revoke = (
        "mutation($id: UUID!) { revokeApiToken(id: $id) }",
        json!({ "id": world.b_token_id }),
    );
    let sensitised = |beneficiary: Uuid| {
        json!({ "events": [submission(
            Uuid::new_v4(),
            beneficiary,
            "2024-04-01T09:00:00Z",
            json!({ "sensitised": { "topic": "Droits du travail" } }),
        )] })
    };
    let identify = |programme: &str| {
        json!({ "events": [submission(
            Uuid::new_v4(),
            Uuid::new_v4(),
            "2024-04-01T09:00:00Z",
            identified_in(programme, &[], None),
        )] })
    };
    let activity = |programme: &str| {
        json!({ "input": {
            "activityId": Uuid::new_v4(), "programmeCode": programme,
            "occurredAt": "2024-04-01T10:00:00Z",
            "activity": { "companyEngaged": { "companyName": "Atlas Textiles", "rseLabelled": true } },
        }})
    };
    let record_activity = "mutation($input: ProgrammeActivitySubmission!) { recordProgrammeActivity(input: $input) { eventId status sequence error { code message field } } }";
    let erase =
        "mutation($id: UUID!) { erasePersonalData(beneficiaryId: $id, reason: \"asked\") { id } }";

    let mut table: Vec<Case> = Vec::new();
    // Administration: ADMIN only.
    for (query, variables) in [
        register_organisation,
        register_programme,
        set_target,
        issue_admin,
        revoke,
    ] {
        table.push((
            query,
            variables,
            [
                Caller::A,
                Caller::B,
                Caller::C,
                Caller::Auditor,
                Caller::Dashboard,
            ]
            .into_iter()
            .map(|caller| (caller, Forbidden))
            .collect(),
        ));
    }
    // Journey events: a read-only role is refused the whole request; a partner that is not
    // responsible for the beneficiary, or not a partner of the programme, each item.
    table.extend([
        (
            RECORD,
            sensitised(x),
            vec![
                (Caller::B, ItemForbidden),
                (Caller::C, ItemForbidden),
                (Caller::Auditor, Forbidden),
                (Caller::Dashboard, Forbidden),
            ],
        ),
        (
            RECORD,
            sensitised(y),
            vec![(Caller::A, ItemForbidden), (Caller::B, ItemForbidden)],
        ),
        (
            RECORD,
            identify(P1),
            vec![
                (Caller::C, ItemForbidden),
                (Caller::Auditor, Forbidden),
                (Caller::Dashboard, Forbidden),
            ],
        ),
        (
            RECORD,
            identify(P2),
            vec![(Caller::A, ItemForbidden), (Caller::B, ItemForbidden)],
        ),
        // Programme activities: the refusal is the item's result.
        (
            record_activity,
            activity(P1),
            vec![
                (Caller::C, ItemForbidden),
                (Caller::Auditor, ItemForbidden),
                (Caller::Dashboard, ItemForbidden),
            ],
        ),
        (
            record_activity,
            activity(P2),
            vec![(Caller::A, ItemForbidden), (Caller::B, ItemForbidden)],
        ),
        // Erasure: ADMIN or the partner that identified the beneficiary.
        (
            erase,
            json!({ "id": x }),
            vec![
                (Caller::B, Forbidden),
                (Caller::C, Forbidden),
                (Caller::Auditor, Forbidden),
                (Caller::Dashboard, Forbidden),
            ],
        ),
        (
            erase,
            json!({ "id": y }),
            vec![
                (Caller::A, Forbidden),
                (Caller::B, Forbidden),
                (Caller::Auditor, Forbidden),
                (Caller::Dashboard, Forbidden),
            ],
        ),
    ]);

    let before = world.fingerprint().await;
    for (query, variables, expectations) in table {
        for (caller, expect) in expectations {
            let response = world
                .app
                .graphql(query, variables.clone(), Some(world.token(caller)))
                .await;
            let context = format!("{caller:?}: {query} {variables}");
            check(&response, query, &expect, &context);
            assert_eq!(world.fingerprint().await, before, "{context}");
        }
    }

    // Nothing refused had an effect: B's token still works, both beneficiaries still have
    // their personal data, the targets are unset, and no programme ROGUE exists.
    let me = world
        .app
        .graphql("{ me { role } }", json!({}), Some(&world.b))
        .await;
    assert_eq!(me.data()["me"]["role"], "PARTNER");
    for (id, name) in [(x, NAME_X), (y, NAME_Y)] {
        let read = read_beneficiary(&world.app, &world.admin, id).await;
        assert_eq!(read["personalData"]["fullName"], name);
        assert_eq!(read["personalDataErased"], false);
        assert_eq!(read["version"], 1);
    }
    let programmes = world
        .app
        .graphql(
            "{ programmes { code targets { indicator } } }",
            json!({}),
            Some(&world.admin),
        )
        .await;
    assert_eq!(
        programmes.data()["programmes"],
        json!([{ "code": P1, "targets": [] }, { "code": P2, "targets": [] }])
    );
}

#[tokio::test]
async fn refusals_say_who_was_refused_and_what_to_do() {
    let world = roles().await;
    let x = world.x;
    let head = log_head(&world.app, &world.admin).await;

    // B, a partner of P1 that x was not referred to.
    let payload = record(
        &world.app,
        &world.b,
        vec![submission(
            Uuid::new_v4(),
            x,
            "2024-04-01T09:00:00Z",
            json!({ "sensitised": { "topic": "t" } }),
        )],
    )
    .await;
    let error = &payload["results"][0]["error"];
    assert_eq!(error["code"], "FORBIDDEN", "{payload:#}");
    assert_eq!(error["field"], Value::Null);
    // It says who was refused and what may record, but names neither the organisation that
    // identified x nor x's programme: B may not even know x exists.
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("ANAPEC") && message.contains("referred"),
        "{message}"
    );
    assert!(
        !message.contains("REMESS") && !message.contains(P1),
        "{message}"
    );

    // C, a partner of another programme only, learns nothing of x either.
    for event in [
        json!({ "sensitised": { "topic": "t" } }),
        json!({ "retracted": { "retractedEventId": world.x_identified, "reason": "r" } }),
        identified_in(P2, &[], None),
    ] {
        let payload = record(
            &world.app,
            &world.c,
            vec![submission(
                Uuid::new_v4(),
                x,
                "2024-04-01T09:00:00Z",
                event.clone(),
            )],
        )
        .await;
        let error = &payload["results"][0]["error"];
        assert_eq!(error["code"], "FORBIDDEN", "{event}: {payload:#}");
        let message = error["message"].as_str().unwrap();
        assert!(
            !message.contains("REMESS") && !message.contains(P1),
            "{event}: {message}"
        );
    }
    let response = world
        .app
        .graphql(
            "mutation($id: UUID!) { erasePersonalData(beneficiaryId: $id, reason: \"asked\") { id } }",
            json!({ "id": x }),
            Some(&world.c),
        )
        .await;
    let (code, message, _) = response.single_error();
    assert_eq!(code, "FORBIDDEN");
    assert!(
        !message.contains("REMESS") && !message.contains(P1),
        "{message}"
    );

    // C, not a partner of P1, identifying someone new in P1: the programme it named.
    let payload = record(
        &world.app,
        &world.c,
        vec![submission(
            Uuid::new_v4(),
            Uuid::new_v4(),
            "2024-04-01T09:00:00Z",
            identified_in(P1, &[], None),
        )],
    )
    .await;
    let error = &payload["results"][0]["error"];
    assert_eq!(error["code"], "FORBIDDEN", "{payload:#}");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("CEFA") && message.contains("not a partner of programme AMUDDU-RSK"),
        "{message}"
    );

    // Read-only roles.
    for (token, role) in [(&world.auditor, "AUDITOR"), (&world.dashboard, "DASHBOARD")] {
        let response = world
            .app
            .graphql(
                RECORD,
                json!({ "events": [submission(Uuid::new_v4(), x, "2024-04-01T09:00:00Z", json!({ "sensitised": { "topic": "t" } }))] }),
                Some(token),
            )
            .await;
        let (code, message, _) = response.single_error();
        assert_eq!(code, "FORBIDDEN");
        assert!(
            message.contains(role) && message.contains("read-only"),
            "{message}"
        );
    }

    // Administration and the log.
    let response = world
        .app
        .graphql("{ eventLog { head } }", json!({}), Some(&world.a))
        .await;
    let (code, message, _) = response.single_error();
    assert_eq!(code, "FORBIDDEN");
    assert!(
        message.starts_with("a PARTNER token of REMESS"),
        "{message}"
    );
    let response = world
        .app
        .graphql(
            "mutation { revokeApiToken(id: \"67e55044-10b1-426f-9247-bb680e5fe0c8\") }",
            json!({}),
            Some(&world.dashboard),
        )
        .await;
    let (code, message, _) = response.single_error();
    assert_eq!(code, "FORBIDDEN");
    assert!(message.contains("only an ADMIN token"), "{message}");
    assert_eq!(log_head(&world.app, &world.admin).await, head);
}

#[tokio::test]
async fn a_referral_gives_a_partner_of_the_programme_access_to_the_beneficiary() {
    let world = roles().await;
    let app = &world.app;
    let x = world.x;

    // Before: B neither reads nor lists x.
    assert_eq!(read_beneficiary(app, &world.b, x).await, Value::Null);

    // A refers x to B.
    let referral = Uuid::new_v4();
    let payload = record(
        app,
        &world.a,
        vec![submission(
            referral,
            x,
            "2024-03-05T09:00:00Z",
            json!({ "referred": { "service": "PUBLIC_EMPLOYMENT_AGENCY", "organisationCode": "ANAPEC", "note": "job search" } }),
        )],
    )
    .await;
    assert_eq!(payload["accepted"], 1, "{payload:#}");

    // B reads x, without personal data (those are for the organisation that identified x),
    // and lists it.
    let read = read_beneficiary(app, &world.b, x).await;
    assert_eq!(read["id"], x.to_string());
    assert_eq!(read["partnerCode"], "REMESS");
    assert_eq!(read["personalData"], Value::Null);
    assert_eq!(read["journey"][1]["type"], "Referred");
    assert_eq!(
        read["journey"][1]["data"]["organisationCode"], "ANAPEC",
        "{read:#}"
    );
    let list = app
        .graphql(
            "{ beneficiaries { totalCount edges { node { id } } } }",
            json!({}),
            Some(&world.b),
        )
        .await;
    assert_eq!(
        list.data()["beneficiaries"],
        json!({ "totalCount": 1, "edges": [{ "node": { "id": x } }] })
    );

    // B records the pathway that follows.
    let enrolment = Uuid::new_v4();
    let payload = record(
        app,
        &world.b,
        vec![
            submission(
                Uuid::new_v4(),
                x,
                "2024-03-06T09:00:00Z",
                json!({ "sensitised": { "topic": "Droits du travail" } }),
            ),
            submission(
                enrolment,
                x,
                "2024-03-07T09:00:00Z",
                json!({ "trainingEnrolled": { "courseCode": "WELD-01", "courseName": "Soudure", "kind": "VOCATIONAL", "plannedSessions": 1 } }),
            ),
            submission(
                Uuid::new_v4(),
                x,
                "2024-03-08T09:00:00Z",
                json!({ "workshopAttended": { "courseCode": "WELD-01", "sessionNumber": 1 } }),
            ),
            submission(
                Uuid::new_v4(),
                x,
                "2024-03-09T09:00:00Z",
                json!({ "trainingCompleted": { "courseCode": "WELD-01", "certified": true } }),
            ),
            submission(
                Uuid::new_v4(),
                x,
                "2024-03-10T09:00:00Z",
                json!({ "consentGiven": { "scopes": ["FOLLOW_UP_CONTACT"] } }),
            ),
        ],
    )
    .await;
    assert_eq!(payload["accepted"], 5, "{payload:#}");
    let read = read_beneficiary(app, &world.admin, x).await;
    assert_eq!(read["stage"], "TRAINED");
    assert_eq!(read["version"], 7);
    let recorded_by: Vec<&str> = read["journey"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["recordedBy"].as_str().unwrap())
        .collect();
    assert_eq!(
        recorded_by,
        ["REMESS", "REMESS", "ANAPEC", "ANAPEC", "ANAPEC", "ANAPEC", "ANAPEC"]
    );

    // B still may not erase x (only the identifying partner or an administrator may), nor
    // see the personal data, and the referral does not open C's beneficiary y to it.
    let head = log_head(app, &world.admin).await;
    let response = app
        .graphql(
            "mutation($id: UUID!) { erasePersonalData(beneficiaryId: $id, reason: \"asked\") { id } }",
            json!({ "id": x }),
            Some(&world.b),
        )
        .await;
    let (code, message, _) = response.single_error();
    assert_eq!(code, "FORBIDDEN");
    assert!(message.contains("identified"), "{message}");
    assert_eq!(log_head(app, &world.admin).await, head);
    assert_eq!(
        read_beneficiary(app, &world.admin, x).await["personalData"]["fullName"],
        NAME_X
    );
    assert_eq!(read_beneficiary(app, &world.b, world.y).await, Value::Null);

    // A referral to an organisation that is not a partner of the programme lets it read the
    // beneficiary (it was referred them) but not write: it is not a partner of P1.
    let payload = record(
        app,
        &world.a,
        vec![submission(
            Uuid::new_v4(),
            x,
            "2024-03-11T09:00:00Z",
            json!({ "referred": { "service": "PARTNER_ORGANISATION", "organisationCode": "CEFA" } }),
        )],
    )
    .await;
    assert_eq!(payload["accepted"], 1, "{payload:#}");
    let read = read_beneficiary(app, &world.c, x).await;
    assert_eq!(read["id"], x.to_string());
    assert_eq!(read["personalData"], Value::Null);
    let head = log_head(app, &world.admin).await;
    let payload = record(
        app,
        &world.c,
        vec![submission(
            Uuid::new_v4(),
            x,
            "2024-03-12T09:00:00Z",
            json!({ "sensitised": { "topic": "t" } }),
        )],
    )
    .await;
    let error = &payload["results"][0]["error"];
    assert_eq!(error["code"], "FORBIDDEN", "{payload:#}");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("not a partner of programme AMUDDU-RSK"),
        "{payload:#}"
    );
    assert_eq!(log_head(app, &world.admin).await, head);

    // The owner erases: allowed.
    let response = app
        .graphql(
            "mutation($id: UUID!) { erasePersonalData(beneficiaryId: $id, reason: \"asked by the person\") { personalDataErased } }",
            json!({ "id": x }),
            Some(&world.a),
        )
        .await;
    assert_eq!(
        response.data()["erasePersonalData"]["personalDataErased"],
        true
    );
}

#[tokio::test]
async fn an_admin_may_do_everything() {
    let world = roles().await;
    let app = &world.app;
    let admin = &world.admin;

    // Administration.
    register_organisation(
        app,
        admin,
        "IOM",
        "International Organization for Migration",
    )
    .await;
    let programme = register_programme(app, admin, "FM-0390", &["IOM"]).await;
    assert_eq!(programme["code"], "FM-0390");
    let target = app
        .graphql(
            "mutation { setIndicatorTarget(programmeCode: \"FM-0390\", indicator: IDENTIFIED, target: 100) { targets { indicator target } } }",
            json!({}),
            Some(admin),
        )
        .await;
    assert_eq!(
        target.data()["setIndicatorTarget"]["targets"],
        json!([{ "indicator": "IDENTIFIED", "target": 100.0 }])
    );
    let (id, secret) = issue_with_id(app, admin, "IOM", "PARTNER").await;
    let revoked = app
        .graphql(
            "mutation($id: UUID!) { revokeApiToken(id: $id) }",
            json!({ "id": id }),
            Some(admin),
        )
        .await;
    assert_eq!(revoked.data()["revokeApiToken"], true);
    let me = app
        .graphql("{ me { role } }", json!({}), Some(&secret))
        .await;
    assert_eq!(me.single_error().0, "UNAUTHENTICATED");

    // Journey events in any programme, for anyone's beneficiary, and a new identification.
    let z = Uuid::new_v4();
    let payload = record(
        app,
        admin,
        vec![
            submission(
                Uuid::new_v4(),
                world.x,
                "2024-03-05T09:00:00Z",
                json!({ "sensitised": { "topic": "t" } }),
            ),
            submission(
                Uuid::new_v4(),
                world.y,
                "2024-03-05T09:00:00Z",
                json!({ "sensitised": { "topic": "t" } }),
            ),
            submission(
                Uuid::new_v4(),
                z,
                "2024-03-05T09:00:00Z",
                identified_in(
                    "FM-0390",
                    &["DATA_PROCESSING"],
                    Some(json!({ "phone": "+212600000099" })),
                ),
            ),
        ],
    )
    .await;
    assert_eq!(payload["accepted"], 3, "{payload:#}");
    let activity = app
        .graphql(
            "mutation($input: ProgrammeActivitySubmission!) { recordProgrammeActivity(input: $input) { status } }",
            json!({ "input": {
                "activityId": Uuid::new_v4(), "programmeCode": P2, "occurredAt": "2024-04-01T10:00:00Z",
                "activity": { "trainerTrained": { "trainerName": "Trainer", "organisationCode": "CEFA" } },
            }}),
            Some(admin),
        )
        .await;
    assert_eq!(
        activity.data()["recordProgrammeActivity"]["status"],
        "ACCEPTED"
    );

    // Reads, with personal data, of every beneficiary.
    for (id, stage, data) in [
        (
            world.x,
            "SENSITISED",
            json!({ "fullName": NAME_X, "phone": null, "documentNumber": null }),
        ),
        (
            world.y,
            "SENSITISED",
            json!({ "fullName": NAME_Y, "phone": null, "documentNumber": null }),
        ),
        (
            z,
            "IDENTIFIED",
            json!({ "fullName": null, "phone": "+212600000099", "documentNumber": null }),
        ),
    ] {
        let read = read_beneficiary(app, admin, id).await;
        assert_eq!(read["stage"], stage, "{read:#}");
        assert_eq!(read["personalData"], data, "{read:#}");
    }
    let list = app
        .graphql("{ beneficiaries { totalCount } }", json!({}), Some(admin))
        .await;
    assert_eq!(list.data()["beneficiaries"]["totalCount"], 3);
    let stream = app
        .graphql(
            "query($id: String!) { stream(aggregateId: $id) { eventType } }",
            json!({ "id": z.to_string() }),
            Some(admin),
        )
        .await;
    assert_eq!(
        stream.data()["stream"],
        json!([{ "eventType": "Identified" }])
    );

    // Erasure of a partner's beneficiary.
    let erased = app
        .graphql(
            "mutation($id: UUID!) { erasePersonalData(beneficiaryId: $id, reason: \"court order\") { personalDataErased personalData { fullName } } }",
            json!({ "id": world.y }),
            Some(admin),
        )
        .await;
    assert_eq!(
        erased.data()["erasePersonalData"],
        json!({ "personalDataErased": true, "personalData": null })
    );
}

#[tokio::test]
async fn authorization_headers_that_are_not_one_bearer_token_are_unauthenticated() {
    let world = roles().await;
    let head = log_head(&world.app, &world.admin).await;
    let write = json!({
        "query": RECORD,
        "variables": { "events": [submission(
            Uuid::new_v4(),
            world.x,
            "2024-04-01T09:00:00Z",
            json!({ "sensitised": { "topic": "t" } }),
        )] },
    });
    let send = |headers: Vec<String>| {
        let mut request = world
            .app
            .client
            .post(format!("{}/graphql", world.app.address))
            .json(&write);
        for header in headers {
            request = request.header("Authorization", header);
        }
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap();
            GraphqlResponse { status, body }
        }
    };
    let a = &world.a;
    for headers in [
        vec![format!("Basic {a}")],
        vec!["Basic dXNlcjpwYXNzd29yZA==".to_owned()],
        vec![format!("Token {a}")],
        vec![a.clone()],
        vec!["Bearer".to_owned()],
        vec![format!("Bearer {a} {a}")],
        vec![format!("Bearer {a}"), format!("Bearer {a}")],
        vec![format!("Bearer {}", &a[..a.len() - 1])],
    ] {
        let response = send(headers.clone()).await;
        let (code, message, _) = response.single_error();
        assert_eq!(code, "UNAUTHENTICATED", "{headers:?}: {:#}", response.body);
        assert!(!message.is_empty());
        assert_eq!(response.body["data"], Value::Null, "{headers:?}");
        assert_eq!(
            log_head(&world.app, &world.admin).await,
            head,
            "{headers:?}"
        );
    }
    // The scheme is case-insensitive (RFC 6750): the same write with `bearer` is recorded.
    let response = send(vec![format!("bearer {a}")]).await;
    assert_eq!(
        response.data()["recordJourneyEvents"]["accepted"],
        1,
        "{:#}",
        response.body
    );
}

/// Sends `variables` to `query` as each of `callers`: each is refused with its one item
/// REJECTED with FORBIDDEN, and nothing changes.
async fn each_is_refused_the_item(
    world: &Roles,
    query: &str,
    variables: &Value,
    callers: &[Caller],
) {
    let before = world.fingerprint().await;
    for caller in callers {
        let response = world
            .app
            .graphql(query, variables.clone(), Some(world.token(*caller)))
            .await;
        let context = format!("{caller:?}: {query}");
        check(&response, query, &Expect::ItemForbidden, &context);
        assert_eq!(world.fingerprint().await, before, "{context}");
    }
}

#[tokio::test]
async fn resubmitting_a_journey_event_one_may_not_write_is_refused_not_a_duplicate() {
    let world = roles().await;
    // x's identification, sent again word for word by partners that may not write for x.
    let identification = json!({ "events": [submission(
        world.x_identified,
        world.x,
        "2024-03-01T09:00:00Z",
        identified_in(P1, &["DATA_PROCESSING"], Some(json!({ "fullName": NAME_X }))),
    )] });
    // Refused, not DUPLICATE: a partner that may neither read nor write x learns nothing of
    // x's events.
    each_is_refused_the_item(&world, RECORD, &identification, &[Caller::B, Caller::C]).await;
}

#[tokio::test]
async fn resubmitting_a_programme_activity_one_may_not_write_is_refused_not_a_duplicate() {
    let world = roles().await;
    let record_activity = "mutation($input: ProgrammeActivitySubmission!) { recordProgrammeActivity(input: $input) { eventId status sequence error { code message field } } }";
    let activity = json!({ "input": {
        "activityId": Uuid::new_v4(), "programmeCode": P1, "occurredAt": "2024-04-01T10:00:00Z",
        "activity": { "companyEngaged": { "companyName": "Atlas Textiles", "rseLabelled": true } },
    }});
    let response = world
        .app
        .graphql(record_activity, activity.clone(), Some(&world.a))
        .await;
    assert_eq!(
        response.data()["recordProgrammeActivity"]["status"],
        "ACCEPTED"
    );
    each_is_refused_the_item(
        &world,
        record_activity,
        &activity,
        // Refused, not DUPLICATE: read-only roles and partners of other programmes learn
        // nothing of the programme's activities.
        &[Caller::Auditor, Caller::Dashboard, Caller::C],
    )
    .await;
}

/// The payload's single result, checking it was REJECTED with FORBIDDEN.
#[track_caller]
fn assert_item_forbidden(payload: &Value) -> String {
    assert_eq!(payload["rejected"], 1, "{payload:#}");
    let result = &payload["results"][0];
    assert_eq!(result["status"], "REJECTED", "{payload:#}");
    assert_eq!(result["error"]["code"], "FORBIDDEN", "{payload:#}");
    result["error"]["message"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_referred_partner_may_not_take_a_beneficiary_over() {
    let world = roles().await;
    let app = &world.app;
    let x = world.x;

    // A (REMESS) identified x with personal data and refers x to B (ANAPEC).
    let payload = record(
        app,
        &world.a,
        vec![submission(
            Uuid::new_v4(),
            x,
            "2024-03-05T09:00:00Z",
            json!({ "referred": { "service": "PUBLIC_EMPLOYMENT_AGENCY", "organisationCode": "ANAPEC" } }),
        )],
    )
    .await;
    assert_eq!(payload["accepted"], 1, "{payload:#}");
    let before = world.fingerprint().await;

    // B may not retract A's identification, ...
    let payload = record(
        app,
        &world.b,
        vec![submission(
            Uuid::new_v4(),
            x,
            "2024-03-06T09:00:00Z",
            json!({ "retracted": { "retractedEventId": world.x_identified, "reason": "wrong person" } }),
        )],
    )
    .await;
    let message = assert_item_forbidden(&payload);
    assert!(message.contains("recorded itself"), "{message}");
    // ... nor identify x itself, ...
    let payload = record(
        app,
        &world.b,
        vec![submission(
            Uuid::new_v4(),
            x,
            "2024-03-06T09:00:00Z",
            identified_in(
                P1,
                &["DATA_PROCESSING"],
                Some(json!({ "fullName": "Someone Else" })),
            ),
        )],
    )
    .await;
    assert_item_forbidden(&payload);
    // ... nor erase x's personal data.
    let response = app
        .graphql(
            "mutation($id: UUID!) { erasePersonalData(beneficiaryId: $id, reason: \"asked\") { id } }",
            json!({ "id": x }),
            Some(&world.b),
        )
        .await;
    let (code, _, _) = response.single_error();
    assert_eq!(code, "FORBIDDEN", "{:#}", response.body);
    assert_eq!(world.fingerprint().await, before);

    // x is still A's, with the personal data A recorded, and B still reads it without them.
    let read = read_beneficiary(app, &world.a, x).await;
    assert_eq!(read["partnerCode"], "REMESS");
    assert_eq!(read["personalData"]["fullName"], NAME_X, "{read:#}");
    let read = read_beneficiary(app, &world.b, x).await;
    assert_eq!(read["partnerCode"], "REMESS");
    assert_eq!(read["personalData"], Value::Null);

    // What B records itself, B may retract.
    let sensitised = Uuid::new_v4();
    let retraction = Uuid::new_v4();
    let payload = record(
        app,
        &world.b,
        vec![
            submission(
                sensitised,
                x,
                "2024-03-06T09:00:00Z",
                json!({ "sensitised": { "topic": "Droits du travail" } }),
            ),
            submission(
                retraction,
                x,
                "2024-03-06T10:00:00Z",
                json!({ "retracted": { "retractedEventId": sensitised, "reason": "wrong person" } }),
            ),
        ],
    )
    .await;
    assert_eq!(payload["accepted"], 2, "{payload:#}");
}

#[tokio::test]
async fn a_retracted_identification_does_not_open_the_stream_to_anyone() {
    let world = roles().await;
    let app = &world.app;

    // C (CEFA, a partner of P2 only) identifies z, records a sensitisation with a private
    // note, then retracts its identification as a correction.
    let z = Uuid::new_v4();
    let identification = Uuid::new_v4();
    let payload = record(
        app,
        &world.c,
        vec![
            submission(
                identification,
                z,
                "2024-03-02T09:00:00Z",
                identified_in(P2, &[], None),
            ),
            submission(
                Uuid::new_v4(),
                z,
                "2024-03-03T09:00:00Z",
                json!({ "sensitised": { "topic": "Santé", "location": "chez une amie, Takaddoum" } }),
            ),
            submission(
                Uuid::new_v4(),
                z,
                "2024-03-04T09:00:00Z",
                json!({ "retracted": { "retractedEventId": identification, "reason": "wrong programme" } }),
            ),
        ],
    )
    .await;
    assert_eq!(payload["accepted"], 3, "{payload:#}");
    let before = world.fingerprint().await;

    // A (REMESS, a partner of P1 only) may not identify z in P1, and learns nothing of C.
    let payload = record(
        app,
        &world.a,
        vec![submission(
            Uuid::new_v4(),
            z,
            "2024-03-05T09:00:00Z",
            identified_in(P1, &[], None),
        )],
    )
    .await;
    let message = assert_item_forbidden(&payload);
    assert!(
        !message.contains("CEFA") && !message.contains(P2),
        "{message}"
    );
    assert_eq!(world.fingerprint().await, before);
    assert_eq!(read_beneficiary(app, &world.a, z).await, Value::Null);
    let list = app
        .graphql(
            "{ beneficiaries { totalCount edges { node { id } } } }",
            json!({}),
            Some(&world.a),
        )
        .await;
    assert_eq!(
        list.data()["beneficiaries"],
        json!({ "totalCount": 1, "edges": [{ "node": { "id": world.x } }] })
    );

    // C, which owns the record still, identifies z again; A still reads nothing.
    let payload = record(
        app,
        &world.c,
        vec![submission(
            Uuid::new_v4(),
            z,
            "2024-03-05T09:00:00Z",
            identified_in(P2, &[], None),
        )],
    )
    .await;
    assert_eq!(payload["accepted"], 1, "{payload:#}");
    let read = read_beneficiary(app, &world.c, z).await;
    assert_eq!(read["partnerCode"], "CEFA");
    assert_eq!(read["journey"].as_array().unwrap().len(), 4, "{read:#}");
    assert_eq!(read_beneficiary(app, &world.a, z).await, Value::Null);
}
