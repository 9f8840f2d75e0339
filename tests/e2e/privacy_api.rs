//! Personal data through the API: it never reaches a table or a log line in clear, it is
//! accepted only with DATA_PROCESSING consent, and erasure (by `erasePersonalData`, or by
//! withdrawing that consent) makes it unreadable while every other fact and the stream's hash
//! chain stay as they were.

use std::path::Path;

use chrono::{DateTime, Utc};
use masar_projections::event_log::{read_stream, verify_chain, StoredEvent};
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

use crate::fixtures::{
    identified_in, log_head, read_beneficiary, record, submission, world, world_on, World,
    BENEFICIARY, ERASE, RECORD, STREAM,
};
use crate::helpers::{spawn_app_logging_to, TestApp};

/// A made-up person, recognisable wherever their data would end up in clear.
struct Person {
    full_name: &'static str,
    /// A part of the name that nothing else contains.
    surname: &'static str,
    phone: &'static str,
    document_number: &'static str,
}

impl Person {
    fn personal_data(&self) -> Value {
        json!({
            "fullName": self.full_name,
            "phone": self.phone,
            "documentNumber": self.document_number,
        })
    }

    /// Every form in which this person's data must not be found: each value, the surname
    /// alone, the phone number without its country code, and the hex of each value's UTF-8
    /// bytes (how PostgreSQL prints a `bytea`).
    fn needles(&self) -> Vec<String> {
        let mut needles = vec![
            self.full_name.to_owned(),
            self.surname.to_owned(),
            self.phone.to_owned(),
            self.phone.trim_start_matches("+212").to_owned(),
            self.document_number.to_owned(),
        ];
        let hex: Vec<String> = needles.iter().map(hex::encode).collect();
        needles.extend(hex);
        needles
    }
}

const PEOPLE: [Person; 7] = [
    Person {
        full_name: "Mariama Zqwxv-Diallo",
        surname: "Zqwxv",
        phone: "+212661734925",
        document_number: "MZX9931457",
    },
    Person {
        full_name: "Kofi Jqvwz-Mensah",
        surname: "Jqvwz",
        phone: "+212662845036",
        document_number: "KJQ8820346",
    },
    Person {
        full_name: "Awa Xkqzj-Traore",
        surname: "Xkqzj",
        phone: "+212663956147",
        document_number: "AXK7719235",
    },
    Person {
        full_name: "Bintou Vwqxz-Keita",
        surname: "Vwqxz",
        phone: "+212664067258",
        document_number: "BVW6608124",
    },
    Person {
        full_name: "Moussa Qjzxk-Camara",
        surname: "Qjzxk",
        phone: "+212665178369",
        document_number: "MQJ5597013",
    },
    Person {
        full_name: "Esther Wzkqv-Okafor",
        surname: "Wzkqv",
        phone: "+212666289470",
        document_number: "EWZ4486902",
    },
    Person {
        full_name: "Yaya Kxqzw-Sangare",
        surname: "Kxqzw",
        phone: "+212667390581",
        document_number: "YKX3375891",
    },
];

/// The text of every row of every table of the `public` schema (each row cast to text, so
/// that every column counts, `bytea` as hex), one string per table, with its name.
async fn every_table_as_text(pool: &PgPool) -> Vec<(String, String)> {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_catalog.pg_class c \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'm') ORDER BY 1",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert!(tables.iter().any(|t| t == "events"), "{tables:?}");
    assert!(
        tables.iter().any(|t| t == "personal_data_keys"),
        "{tables:?}"
    );
    let mut texts = Vec::new();
    for table in tables {
        let quoted = table.replace('"', "\"\"");
        let rows: Vec<String> = sqlx::query_scalar(&format!("SELECT t::text FROM \"{quoted}\" t"))
            .fetch_all(pool)
            .await
            .unwrap();
        texts.push((table, rows.join("\n")));
    }
    texts
}

/// Each needle that occurs in `haystacks`, ignoring case, with where (by name).
fn occurrences(haystacks: &[(String, String)], needles: &[String]) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for (name, text) in haystacks {
        let text = text.to_lowercase();
        for needle in needles {
            if text.contains(&needle.to_lowercase()) {
                found.push((needle.clone(), name.clone()));
            }
        }
    }
    found
}

/// The needles that occur nowhere in `haystacks`.
fn missing(haystacks: &[(String, String)], needles: &[String]) -> Vec<String> {
    let found = occurrences(haystacks, needles);
    needles
        .iter()
        .filter(|needle| !found.iter().any(|(found, _)| found == *needle))
        .cloned()
        .collect()
}

fn read_log_file(path: &Path) -> String {
    String::from_utf8_lossy(&std::fs::read(path).unwrap()).into_owned()
}

#[tokio::test]
async fn personal_data_is_in_no_table_and_no_log_line_in_clear() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("masar.log");
    let app = spawn_app_logging_to(&[("RUST_LOG", "trace")], &log).await;
    let World {
        mut app,
        admin,
        partner,
    } = world_on(app).await;
    let ids: Vec<Uuid> = (0..PEOPLE.len()).map(|_| Uuid::new_v4()).collect();
    let with_consent = |i: usize| {
        identified_in(
            "AMUDDU-RSK",
            &["DATA_PROCESSING"],
            Some(PEOPLE[i].personal_data()),
        )
    };

    // A batch: two identifications with personal data, an event for one of them, and two
    // rejected items with personal data (no consent; a region outside the programme).
    let mut outside = with_consent(3);
    outside["identified"]["region"] = json!("MA-06");
    let batch = vec![
        submission(
            Uuid::new_v4(),
            ids[0],
            "2024-03-01T09:00:00Z",
            with_consent(0),
        ),
        submission(
            Uuid::new_v4(),
            ids[1],
            "2024-03-01T10:00:00Z",
            with_consent(1),
        ),
        submission(
            Uuid::new_v4(),
            ids[0],
            "2024-03-02T09:00:00Z",
            json!({ "sensitised": { "topic": "Droits du travail" } }),
        ),
        submission(
            Uuid::new_v4(),
            ids[2],
            "2024-03-01T11:00:00Z",
            identified_in("AMUDDU-RSK", &[], Some(PEOPLE[2].personal_data())),
        ),
        submission(Uuid::new_v4(), ids[3], "2024-03-01T12:00:00Z", outside),
    ];
    let payload = record(&app, &partner, batch.clone()).await;
    assert_eq!(
        (&payload["accepted"], &payload["rejected"]),
        (&json!(3), &json!(2)),
        "{payload:#}"
    );
    assert_eq!(payload["results"][3]["error"]["field"], "personalData");
    assert_eq!(payload["results"][4]["error"]["field"], "region");
    // The same batch again, as after a timeout.
    let payload = record(&app, &partner, batch).await;
    assert_eq!(payload["duplicates"], 3, "{payload:#}");

    // One at a time, as the administrator.
    let payload = record(
        &app,
        &admin,
        vec![submission(
            Uuid::new_v4(),
            ids[4],
            "2024-03-03T09:00:00Z",
            with_consent(4),
        )],
    )
    .await;
    assert_eq!(payload["accepted"], 1, "{payload:#}");

    // An erroneous request: a value that does not coerce, beside personal data.
    let mut wrong = with_consent(5);
    wrong["identified"]["sex"] = json!("NOT_A_SEX");
    let response = app
        .graphql(
            RECORD,
            json!({ "events": [submission(Uuid::new_v4(), ids[5], "2024-03-03T09:00:00Z", wrong)] }),
            Some(&partner),
        )
        .await;
    assert_eq!(
        response.error_codes(),
        ["VALIDATION"],
        "{:#}",
        response.body
    );
    // And a document that does not validate, with personal data written into it.
    let person = &PEOPLE[6];
    let inline = format!(
        r#"mutation {{ recordJourneyEvents(events: [{{ eventId: "{}", beneficiaryId: "{}",
             occurredAt: "2024-03-03T09:00:00Z", event: {{ identified: {{
               programmeCode: "AMUDDU-RSK", sex: FEMALE, nationality: "CI",
               legalStatus: REFUGEE, region: "MA-04", channel: ASSOCIATION,
               consent: [DATA_PROCESSING],
               personalData: {{ fullName: "{}", phone: "{}", documentNumber: "{}" }} }} }} }}])
           {{ accepted nope }} }}"#,
        Uuid::new_v4(),
        ids[6],
        person.full_name,
        person.phone,
        person.document_number
    );
    let response = app.graphql(&inline, json!({}), Some(&partner)).await;
    assert_eq!(
        response.error_codes(),
        ["VALIDATION"],
        "{:#}",
        response.body
    );

    // Read back, by the partner and the administrator; erase one; withdraw consent for
    // another.
    for token in [&partner, &admin] {
        for i in [0, 1] {
            let read = read_beneficiary(&app, token, ids[i]).await;
            assert_eq!(read["personalData"], PEOPLE[i].personal_data());
        }
    }
    let list = app
        .graphql(
            "{ beneficiaries { edges { node { personalData { fullName phone documentNumber } } } } }",
            json!({}),
            Some(&admin),
        )
        .await;
    assert_eq!(
        list.data()["beneficiaries"]["edges"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let erased = app
        .graphql(
            ERASE,
            json!({ "id": ids[1], "reason": "asked by the person" }),
            Some(&partner),
        )
        .await;
    assert_eq!(
        erased.data()["erasePersonalData"]["personalDataErased"],
        true
    );
    let payload = record(
        &app,
        &admin,
        vec![submission(
            Uuid::new_v4(),
            ids[4],
            "2024-03-04T09:00:00Z",
            json!({ "consentWithdrawn": { "scopes": ["DATA_PROCESSING"] } }),
        )],
    )
    .await;
    assert_eq!(payload["accepted"], 1, "{payload:#}");
    let stream = app
        .graphql(STREAM, json!({ "id": ids[0].to_string() }), Some(&admin))
        .await;
    assert_eq!(stream.data()["stream"].as_array().unwrap().len(), 2);

    // Stop the server, so that everything it wrote is in the file.
    assert!(app.terminate().success());

    let needles: Vec<String> = PEOPLE.iter().flat_map(Person::needles).collect();

    // (1) Every table.
    let tables = every_table_as_text(&app.db.pool).await;
    // The scan finds what is there: each recorded beneficiary's id and the erasure's reason.
    let canaries: Vec<String> = vec![
        ids[0].to_string(),
        ids[1].to_string(),
        ids[4].to_string(),
        "asked by the person".to_owned(),
    ];
    let unseen = missing(&tables, &canaries);
    assert!(
        unseen.is_empty(),
        "the scan of the tables misses what they hold: {unseen:?}"
    );
    let found = occurrences(&tables, &needles);
    assert!(found.is_empty(), "personal data in clear: {found:#?}");

    // (2) The server's log output, at its most verbose.
    let output = read_log_file(&log);
    assert!(
        output.contains("TRACE") && output.contains("DEBUG"),
        "the server did not log at trace level"
    );
    let output = [("the server's log output".to_owned(), output)];
    // The erasure is logged with the beneficiary's id.
    let unseen = missing(&output, &[ids[1].to_string()]);
    assert!(
        unseen.is_empty(),
        "the scan of the log misses what it holds: {unseen:?}"
    );
    let found = occurrences(&output, &needles);
    assert!(found.is_empty(), "personal data in clear: {found:#?}");
}

/// Everything the API shows of a beneficiary but its personal data, erasure flag, version and
/// journey.
fn other_facts(beneficiary: &Value) -> Value {
    let mut facts = beneficiary.clone();
    let object = facts.as_object_mut().unwrap();
    for field in ["personalData", "personalDataErased", "version", "journey"] {
        object.remove(field);
    }
    facts
}

/// A stream's events as the API gives them, in the form the chain is verified in.
fn stored_events(stream: &Value) -> Vec<StoredEvent> {
    stream
        .as_array()
        .unwrap()
        .iter()
        .map(|event| StoredEvent {
            global_position: event["globalPosition"].as_str().unwrap().parse().unwrap(),
            aggregate_type: event["aggregateType"].as_str().unwrap().to_owned(),
            aggregate_id: event["aggregateId"].as_str().unwrap().to_owned(),
            sequence: event["sequence"].as_i64().unwrap(),
            event_type: event["eventType"].as_str().unwrap().to_owned(),
            event_version: event["eventVersion"].as_str().unwrap().to_owned(),
            payload: event["payload"].clone(),
            metadata: event["metadata"].clone(),
            recorded_at: DateTime::parse_from_rfc3339(event["recordedAt"].as_str().unwrap())
                .unwrap()
                .with_timezone(&Utc),
            previous_hash: event["previousHash"].as_str().map(str::to_owned),
            hash: event["hash"].as_str().unwrap().to_owned(),
        })
        .collect()
}

/// A beneficiary of REMESS with personal data, consent to follow-up contact and a pathway.
async fn beneficiary_with_a_pathway(app: &TestApp, partner: &str, person: &Person) -> Uuid {
    let id = Uuid::new_v4();
    let payload = record(
        app,
        partner,
        vec![
            submission(
                Uuid::new_v4(),
                id,
                "2024-03-01T09:00:00Z",
                identified_in(
                    "AMUDDU-RSK",
                    &["DATA_PROCESSING", "FOLLOW_UP_CONTACT"],
                    Some(person.personal_data()),
                ),
            ),
            submission(
                Uuid::new_v4(),
                id,
                "2024-03-02T09:00:00Z",
                json!({ "sensitised": { "topic": "Droits du travail" } }),
            ),
            submission(
                Uuid::new_v4(),
                id,
                "2024-03-03T09:00:00Z",
                json!({ "trainingEnrolled": { "courseCode": "WELD-01", "courseName": "Soudure", "kind": "VOCATIONAL", "plannedSessions": 1 } }),
            ),
            submission(
                Uuid::new_v4(),
                id,
                "2024-03-04T09:00:00Z",
                json!({ "trainingCompleted": { "courseCode": "WELD-01", "certified": true } }),
            ),
        ],
    )
    .await;
    assert_eq!(payload["accepted"], 4, "{payload:#}");
    id
}

async fn key_rows(pool: &PgPool, id: Uuid) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM personal_data_keys WHERE beneficiary_id = $1")
        .bind(id)
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn erasure_by_the_admin_or_the_owner_keeps_every_other_fact_and_the_chain() {
    let World {
        app,
        admin,
        partner,
    } = world().await;
    let auditor = crate::fixtures::issue(&app, &admin, "ENABEL", "AUDITOR").await;

    for (person, eraser, organisation, reason) in [
        (&PEOPLE[0], &admin, "ENABEL", "court order"),
        (&PEOPLE[1], &partner, "REMESS", "asked by the person"),
    ] {
        let id = beneficiary_with_a_pathway(&app, &partner, person).await;
        let before = read_beneficiary(&app, &admin, id).await;
        assert_eq!(before["personalData"], person.personal_data());
        assert_eq!(before["stage"], "TRAINED");
        assert_eq!(key_rows(&app.db.pool, id).await, 1);

        let started = Utc::now();
        let response = app
            .graphql(ERASE, json!({ "id": id, "reason": reason }), Some(eraser))
            .await;
        let erased = &response.data()["erasePersonalData"];
        assert_eq!(
            erased,
            &json!({
                "id": id, "stage": "TRAINED", "consent": ["DATA_PROCESSING", "FOLLOW_UP_CONTACT"],
                "personalDataErased": true, "personalData": null, "version": 5,
            })
        );
        assert_eq!(key_rows(&app.db.pool, id).await, 0);

        // Unreadable for everyone who could read it; every other fact as before.
        for token in [&admin, &partner] {
            let after = read_beneficiary(&app, token, id).await;
            assert_eq!(after["personalData"], Value::Null, "{after:#}");
            assert_eq!(after["personalDataErased"], true);
            assert_eq!(other_facts(&after), other_facts(&before));
            assert_eq!(after["version"], 5);
            let journey = after["journey"].as_array().unwrap();
            assert_eq!(
                &journey[..4],
                before["journey"].as_array().unwrap().as_slice()
            );
            let entry = &journey[4];
            assert_eq!(entry["type"], "PersonalDataErased");
            assert_eq!(entry["recordedBy"], organisation);
            assert_eq!(entry["data"], json!({ "reason": reason }));
        }
        let list = app
            .graphql(
                "{ beneficiaries { edges { node { id personalDataErased personalData { fullName } } } } }",
                json!({}),
                Some(&admin),
            )
            .await;
        let node = list.data()["beneficiaries"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|edge| &edge["node"])
            .find(|node| node["id"] == id.to_string())
            .unwrap()
            .clone();
        assert_eq!(
            node,
            json!({ "id": id, "personalDataErased": true, "personalData": null })
        );

        // The stream, as an auditor reads it: the erasure recorded, who, when, why.
        let stream = app
            .graphql(STREAM, json!({ "id": id.to_string() }), Some(&auditor))
            .await;
        let stream = stream.data()["stream"].clone();
        let events = stream.as_array().unwrap();
        assert_eq!(events.len(), 5);
        let erasure = &events[4];
        assert_eq!(erasure["eventType"], "PersonalDataErased");
        assert_eq!(erasure["sequence"], 5);
        assert_eq!(erasure["payload"].to_string().matches(reason).count(), 1);
        assert_eq!(erasure["metadata"]["organisation"], organisation);
        let occurred_at: DateTime<Utc> = erasure["metadata"]["occurred_at"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        let recorded_at: DateTime<Utc> = erasure["recordedAt"].as_str().unwrap().parse().unwrap();
        for at in [occurred_at, recorded_at] {
            assert!(at >= started - chrono::Duration::seconds(1), "{erasure:#}");
            assert!(at <= Utc::now(), "{erasure:#}");
        }
        // The identification's ciphertext is still there: the log was not rewritten.
        assert!(!events[0]["payload"].to_string().contains(person.surname));

        // The hash chain links and recomputes, from the API and from the table.
        for pair in events.windows(2) {
            assert_eq!(pair[1]["previousHash"], pair[0]["hash"]);
        }
        assert_eq!(events[0]["previousHash"], Value::Null);
        let problems = verify_chain(&stored_events(&stream));
        assert!(problems.is_empty(), "{problems:?}");
        let stored = read_stream(&app.db.pool, "Beneficiary", &id.to_string())
            .await
            .unwrap();
        assert_eq!(stored.len(), 5);
        let problems = verify_chain(&stored);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(stored_events(&stream), stored);

        // Erasing again is harmless: nothing recorded, the same answer.
        let head = log_head(&app, &admin).await;
        let again = app
            .graphql(ERASE, json!({ "id": id, "reason": reason }), Some(eraser))
            .await;
        assert_eq!(&again.data()["erasePersonalData"], erased);
        assert_eq!(log_head(&app, &admin).await, head);
    }

    // An unknown beneficiary; an empty reason (nothing is destroyed).
    let head = log_head(&app, &admin).await;
    let response = app
        .graphql(
            ERASE,
            json!({ "id": Uuid::new_v4(), "reason": "asked" }),
            Some(&admin),
        )
        .await;
    let (code, _, field) = response.single_error();
    assert_eq!(
        (code.as_str(), field.as_deref()),
        ("NOT_FOUND", Some("beneficiaryId"))
    );
    let id = beneficiary_with_a_pathway(&app, &partner, &PEOPLE[2]).await;
    let head_with_it = log_head(&app, &admin).await;
    assert_ne!(head_with_it, head);
    let response = app
        .graphql(ERASE, json!({ "id": id, "reason": "  " }), Some(&partner))
        .await;
    let (code, _, field) = response.single_error();
    assert_eq!(
        (code.as_str(), field.as_deref()),
        ("VALIDATION", Some("reason"))
    );
    assert_eq!(log_head(&app, &admin).await, head_with_it);
    assert_eq!(
        read_beneficiary(&app, &partner, id).await["personalData"],
        PEOPLE[2].personal_data()
    );
}

#[tokio::test]
async fn personal_data_is_accepted_only_with_data_processing_consent() {
    let World {
        app,
        admin,
        partner,
    } = world().await;
    for consent in [&[][..], &["FOLLOW_UP_CONTACT", "SHARING_WITH_PARTNERS"][..]] {
        let head = log_head(&app, &admin).await;
        let id = Uuid::new_v4();
        let event_id = Uuid::new_v4();
        let with_data = submission(
            event_id,
            id,
            "2024-03-01T09:00:00Z",
            identified_in("AMUDDU-RSK", consent, Some(PEOPLE[0].personal_data())),
        );
        let payload = record(&app, &partner, vec![with_data]).await;
        let result = &payload["results"][0];
        assert_eq!(result["status"], "REJECTED", "{payload:#}");
        assert_eq!(result["error"]["code"], "VALIDATION");
        assert_eq!(result["error"]["field"], "personalData");
        let message = result["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("DATA_PROCESSING") && message.contains("consent"),
            "{message}"
        );
        assert!(!message.contains(PEOPLE[0].surname), "{message}");
        assert_eq!(log_head(&app, &admin).await, head);
        assert_eq!(read_beneficiary(&app, &admin, id).await, Value::Null);

        // The same submission without the personal data.
        let without = submission(
            event_id,
            id,
            "2024-03-01T09:00:00Z",
            identified_in("AMUDDU-RSK", consent, None),
        );
        let payload = record(&app, &partner, vec![without]).await;
        assert_eq!(payload["results"][0]["status"], "ACCEPTED", "{payload:#}");
        let read = read_beneficiary(&app, &admin, id).await;
        assert_eq!(read["consent"], json!(consent));
        assert_eq!(read["personalData"], Value::Null);
        assert_eq!(read["personalDataErased"], false);
        assert_eq!(read["journey"][0]["data"]["hasPersonalData"], false);
        let head_now = log_head(&app, &admin).await;
        assert_ne!(head_now, head);
        // Giving the consent afterwards does not bring personal data with it.
        let payload = record(
            &app,
            &partner,
            vec![submission(
                Uuid::new_v4(),
                id,
                "2024-03-02T09:00:00Z",
                json!({ "consentGiven": { "scopes": ["DATA_PROCESSING"] } }),
            )],
        )
        .await;
        assert_eq!(payload["accepted"], 1, "{payload:#}");
        let read = read_beneficiary(&app, &admin, id).await;
        assert_eq!(read["personalData"], Value::Null);
        assert!(read["consent"]
            .as_array()
            .unwrap()
            .contains(&json!("DATA_PROCESSING")));
    }
}

/// Identifies a beneficiary of REMESS with DATA_PROCESSING and FOLLOW_UP_CONTACT consent and
/// the personal data of `person`, gives SHARING_WITH_PARTNERS, then withdraws
/// FOLLOW_UP_CONTACT (the personal data stays), then DATA_PROCESSING. Checks the current
/// consent after each step; returns the beneficiary as it reads after the last.
async fn withdraw_consent_step_by_step(world: &World, person: &Person) -> (Uuid, Value) {
    let World {
        app,
        admin,
        partner,
    } = world;
    let id = beneficiary_with_a_pathway(app, partner, person).await;
    assert_eq!(key_rows(&app.db.pool, id).await, 1);
    let steps = [
        (
            json!({ "consentGiven": { "scopes": ["SHARING_WITH_PARTNERS"] } }),
            json!([
                "DATA_PROCESSING",
                "FOLLOW_UP_CONTACT",
                "SHARING_WITH_PARTNERS"
            ]),
            true,
        ),
        (
            json!({ "consentWithdrawn": { "scopes": ["FOLLOW_UP_CONTACT"] } }),
            json!(["DATA_PROCESSING", "SHARING_WITH_PARTNERS"]),
            true,
        ),
        (
            json!({ "consentWithdrawn": { "scopes": ["DATA_PROCESSING"] } }),
            json!(["SHARING_WITH_PARTNERS"]),
            false,
        ),
    ];
    let mut read = Value::Null;
    for (day, (event, consent, readable)) in steps.into_iter().enumerate() {
        let payload = record(
            app,
            partner,
            vec![submission(
                Uuid::new_v4(),
                id,
                &format!("2024-03-1{day}T09:00:00Z"),
                event,
            )],
        )
        .await;
        assert_eq!(payload["accepted"], 1, "{payload:#}");
        read = read_beneficiary(app, admin, id).await;
        assert_eq!(read["consent"], consent, "{read:#}");
        assert_eq!(read["stage"], "TRAINED");
        if readable {
            assert_eq!(read["personalData"], person.personal_data());
        } else {
            assert_eq!(read["personalData"], Value::Null, "{read:#}");
        }
    }
    (id, read)
}

#[tokio::test]
async fn withdrawing_data_processing_consent_destroys_the_personal_data() {
    let world = world().await;
    let (id, _) = withdraw_consent_step_by_step(&world, &PEOPLE[3]).await;
    let World {
        app,
        admin,
        partner,
    } = &world;

    // The key is gone: giving the consent again brings nothing back, for anyone.
    assert_eq!(key_rows(&app.db.pool, id).await, 0);
    let payload = record(
        app,
        partner,
        vec![submission(
            Uuid::new_v4(),
            id,
            "2024-03-20T09:00:00Z",
            json!({ "consentGiven": { "scopes": ["DATA_PROCESSING"] } }),
        )],
    )
    .await;
    assert_eq!(payload["accepted"], 1, "{payload:#}");
    for token in [admin, partner] {
        let read = app
            .graphql(BENEFICIARY, json!({ "id": id }), Some(token))
            .await;
        let read = &read.data()["beneficiary"];
        assert_eq!(read["personalData"], Value::Null, "{read:#}");
        assert_eq!(
            read["consent"],
            json!(["DATA_PROCESSING", "SHARING_WITH_PARTNERS"])
        );
    }
    let stored = read_stream(&app.db.pool, "Beneficiary", &id.to_string())
        .await
        .unwrap();
    let problems = verify_chain(&stored);
    assert!(problems.is_empty(), "{problems:?}");
}

#[tokio::test]
async fn withdrawing_data_processing_consent_shows_the_personal_data_as_erased() {
    let world = world().await;
    let (_, read) = withdraw_consent_step_by_step(&world, &PEOPLE[4]).await;
    // The key is destroyed and PersonalDataErased recorded: the data shows as erased.
    assert_eq!(read["personalDataErased"], true, "{read:#}");
}
