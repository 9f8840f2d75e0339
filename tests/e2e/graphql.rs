//! The GraphQL API as its clients use it, over HTTP only: an administrator bootstrapped from
//! the command line registers organisations and a programme and issues tokens; a partner
//! records batches and reads its beneficiary's carnet de bord back; every failure comes back
//! with its `extensions.code`.

use serde_json::{json, Value};
use uuid::Uuid;

use crate::fixtures::{
    identified, issue, log_head, record, submission, world, World, BENEFICIARY, FULL_NAME, RECORD,
};
use crate::helpers::spawn_app_with;

#[tokio::test]
async fn a_partner_records_a_batch_and_reads_the_carnet_de_bord_back() {
    let World {
        app,
        admin,
        partner,
    } = world().await;

    // Who am I.
    let me = app
        .graphql(
            "{ me { role organisation { code name } } }",
            json!({}),
            Some(&partner),
        )
        .await;
    assert_eq!(
        me.data()["me"],
        json!({ "role": "PARTNER", "organisation": { "code": "REMESS", "name": "Réseau marocain de l'économie sociale" } })
    );

    // A batch: four good events, a journey rule broken, a field that does not parse.
    let beneficiary = Uuid::new_v4();
    let ids: Vec<Uuid> = (0..6).map(|_| Uuid::new_v4()).collect();
    let batch = json!([
        submission(
            ids[0],
            beneficiary,
            "2024-03-01T09:00:00+01:00",
            identified()
        ),
        submission(
            ids[1],
            beneficiary,
            "2024-03-02T09:00:00Z",
            json!({ "sensitised": { "topic": "Droits du travail" } })
        ),
        submission(
            ids[2],
            beneficiary,
            "2024-03-03T09:00:00Z",
            json!({ "trainingEnrolled": { "courseCode": "WELD-01", "courseName": "Soudure", "kind": "VOCATIONAL", "plannedSessions": 2 } })
        ),
        submission(
            ids[3],
            beneficiary,
            "2024-03-04T09:00:00Z",
            json!({ "trainingCompleted": { "courseCode": "COOK-01", "certified": true } })
        ),
        submission(
            ids[4],
            beneficiary,
            "2024-03-05T09:00:00Z",
            json!({ "workshopAttended": { "courseCode": "WELD-01", "sessionNumber": 1 } })
        ),
        submission(
            ids[5],
            beneficiary,
            "2024-03-06T09:00:00Z",
            json!({ "referred": { "service": "HEALTH", "organisationCode": "not a code" } })
        ),
    ]);
    let response = app
        .graphql(RECORD, json!({ "events": batch }), Some(&partner))
        .await;
    let payload = &response.data()["recordJourneyEvents"];
    assert_eq!(payload["accepted"], 4, "{payload:#}");
    assert_eq!(payload["duplicates"], 0);
    assert_eq!(payload["rejected"], 2);
    let results = payload["results"].as_array().unwrap();
    let statuses: Vec<&str> = results
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        ["ACCEPTED", "ACCEPTED", "ACCEPTED", "REJECTED", "ACCEPTED", "REJECTED"]
    );
    for (result, id) in results.iter().zip(&ids) {
        assert_eq!(result["eventId"], id.to_string());
    }
    let sequences: Vec<&Value> = results.iter().map(|r| &r["sequence"]).collect();
    assert_eq!(
        sequences,
        [
            &json!(1),
            &json!(2),
            &json!(3),
            &Value::Null,
            &json!(4),
            &Value::Null
        ]
    );
    assert_eq!(results[3]["error"]["code"], "INVALID_TRANSITION");
    assert_eq!(results[3]["error"]["field"], "courseCode");
    assert!(results[3]["error"]["message"]
        .as_str()
        .unwrap()
        .contains("COOK-01"));
    assert_eq!(results[5]["error"]["code"], "VALIDATION");
    assert_eq!(results[5]["error"]["field"], "organisationCode");

    // The same batch again (a retry after a timeout): nothing recorded twice.
    let response = app
        .graphql(RECORD, json!({ "events": batch }), Some(&partner))
        .await;
    let payload = &response.data()["recordJourneyEvents"];
    assert_eq!(
        (
            &payload["accepted"],
            &payload["duplicates"],
            &payload["rejected"]
        ),
        (&json!(0), &json!(4), &json!(2)),
        "{payload:#}"
    );
    let results = payload["results"].as_array().unwrap();
    assert_eq!(results[0]["status"], "DUPLICATE");
    assert_eq!(results[0]["sequence"], 1);
    assert_eq!(results[4]["sequence"], 4);

    // An event id reused for another beneficiary.
    let response = app
        .graphql(
            RECORD,
            json!({ "events": [submission(ids[1], Uuid::new_v4(), "2024-03-02T09:00:00Z", identified())] }),
            Some(&partner),
        )
        .await;
    let result = &response.data()["recordJourneyEvents"]["results"][0];
    assert_eq!(result["status"], "REJECTED");
    assert_eq!(result["error"]["code"], "EVENT_ID_REUSED");
    assert_eq!(result["error"]["field"], "eventId");

    // The carnet de bord, as the partner that identified the beneficiary.
    let response = app
        .graphql(BENEFICIARY, json!({ "id": beneficiary }), Some(&partner))
        .await;
    let read = &response.data()["beneficiary"];
    assert_eq!(read["id"], beneficiary.to_string());
    assert_eq!(read["programmeCode"], "AMUDDU-RSK");
    assert_eq!(read["partnerCode"], "REMESS");
    assert_eq!(read["stage"], "SENSITISED");
    assert_eq!(read["active"], true);
    assert_eq!(read["ageBand"], "AGE_25_34");
    assert_eq!(read["identifiedAt"], "2024-03-01T08:00:00Z");
    assert_eq!(read["consent"], json!(["DATA_PROCESSING"]));
    assert_eq!(read["version"], 4);
    assert_eq!(
        read["personalData"],
        json!({ "fullName": FULL_NAME, "phone": "+212600000000", "documentNumber": null })
    );
    let journey = read["journey"].as_array().unwrap();
    let types: Vec<&str> = journey
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "Identified",
            "Sensitised",
            "TrainingEnrolled",
            "WorkshopAttended"
        ]
    );
    assert_eq!(journey[0]["recordedBy"], "REMESS");
    assert_eq!(journey[0]["retracted"], false);
    assert_eq!(journey[0]["data"]["region"], "MA-04");
    assert_eq!(journey[0]["data"]["hasPersonalData"], true);
    assert!(!journey[0]["data"].to_string().contains("Aminata"));
    assert_eq!(
        journey[2]["data"],
        json!({ "courseCode": "WELD-01", "courseName": "Soudure", "kind": "VOCATIONAL", "plannedSessions": 2 })
    );

    // The name is nowhere in the log in clear.
    let clear: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE payload::text LIKE '%Aminata%' OR metadata::text LIKE '%Aminata%'",
    )
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(clear, 0);

    // A retraction shows in the journey.
    let retraction = Uuid::new_v4();
    let response = app
        .graphql(
            RECORD,
            json!({ "events": [submission(retraction, beneficiary, "2024-03-07T09:00:00Z", json!({ "retracted": { "retractedEventId": ids[4], "reason": "wrong session" } }))] }),
            Some(&partner),
        )
        .await;
    assert_eq!(response.data()["recordJourneyEvents"]["accepted"], 1);

    // The administrator and an auditor see the beneficiary; the auditor not their personal
    // data; a dashboard not at all (null, as the contract says).
    let auditor = issue(&app, &admin, "ENABEL", "AUDITOR").await;
    let dashboard = issue(&app, &admin, "ENABEL", "DASHBOARD").await;
    let as_admin = app
        .graphql(BENEFICIARY, json!({ "id": beneficiary }), Some(&admin))
        .await;
    let read = &as_admin.data()["beneficiary"];
    assert_eq!(read["personalData"]["fullName"], FULL_NAME);
    assert_eq!(read["journey"][3]["retracted"], true);
    assert_eq!(read["journey"][3]["retractionReason"], "wrong session");
    assert_eq!(read["journey"][4]["type"], "Retracted");
    let as_auditor = app
        .graphql(BENEFICIARY, json!({ "id": beneficiary }), Some(&auditor))
        .await;
    assert_eq!(as_auditor.data()["beneficiary"]["stage"], "SENSITISED");
    assert_eq!(
        as_auditor.data()["beneficiary"]["personalData"],
        Value::Null
    );
    let as_dashboard = app
        .graphql(BENEFICIARY, json!({ "id": beneficiary }), Some(&dashboard))
        .await;
    assert_eq!(as_dashboard.data()["beneficiary"], Value::Null);

    // Lists: the partner's page; a dashboard may not list individuals.
    let page = app
        .graphql(
            "{ beneficiaries(programmeCode: \"AMUDDU-RSK\", first: 10) { totalCount edges { cursor node { id stage } } pageInfo { hasNextPage endCursor } } }",
            json!({}),
            Some(&partner),
        )
        .await;
    let page = &page.data()["beneficiaries"];
    assert_eq!(page["totalCount"], 1);
    assert_eq!(page["edges"][0]["node"]["id"], beneficiary.to_string());
    assert_eq!(page["pageInfo"]["hasNextPage"], false);
    let next = app
        .graphql(
            "query($after: String) { beneficiaries(after: $after) { totalCount edges { node { id } } } }",
            json!({ "after": page["pageInfo"]["endCursor"] }),
            Some(&partner),
        )
        .await;
    assert_eq!(next.data()["beneficiaries"]["edges"], json!([]));
    let denied = app
        .graphql(
            "{ beneficiaries { totalCount } }",
            json!({}),
            Some(&dashboard),
        )
        .await;
    assert_eq!(denied.single_error().0, "FORBIDDEN");

    // The raw log: ADMIN and AUDITOR only.
    let log = app
        .graphql(
            "{ eventLog(first: 3) { head nextAfter events { globalPosition aggregateType aggregateId sequence eventType hash previousHash } } }",
            json!({}),
            Some(&auditor),
        )
        .await;
    let log = &log.data()["eventLog"];
    assert_eq!(log["events"].as_array().unwrap().len(), 3);
    assert_eq!(log["events"][0]["aggregateType"], "Organisation");
    assert!(log["head"].as_str().unwrap().parse::<i64>().unwrap() >= 9);
    assert_eq!(log["nextAfter"], log["events"][2]["globalPosition"]);
    let stream = app
        .graphql(
            "query($id: String!) { stream(aggregateId: $id) { sequence eventType hash previousHash } }",
            json!({ "id": beneficiary.to_string() }),
            Some(&admin),
        )
        .await;
    let stream = stream.data()["stream"].as_array().unwrap().clone();
    assert_eq!(stream.len(), 5);
    assert_eq!(stream[1]["previousHash"], stream[0]["hash"]);
    let denied = app
        .graphql("{ eventLog { head } }", json!({}), Some(&partner))
        .await;
    assert_eq!(denied.single_error().0, "FORBIDDEN");

    // Programme-level activity: accepted once, then a duplicate.
    let activity = Uuid::new_v4();
    let record_activity = r#"mutation($input: ProgrammeActivitySubmission!) {
        recordProgrammeActivity(input: $input) { eventId status sequence error { code field } } }"#;
    let input = json!({ "input": {
        "activityId": activity, "programmeCode": "AMUDDU-RSK", "occurredAt": "2024-04-01T10:00:00Z",
        "activity": { "companyEngaged": { "companyName": "Atlas Textiles", "rseLabelled": true } },
    }});
    let first = app
        .graphql(record_activity, input.clone(), Some(&partner))
        .await;
    assert_eq!(
        first.data()["recordProgrammeActivity"]["status"],
        "ACCEPTED"
    );
    assert_eq!(first.data()["recordProgrammeActivity"]["sequence"], 2);
    let again = app.graphql(record_activity, input, Some(&partner)).await;
    assert_eq!(
        again.data()["recordProgrammeActivity"]["status"],
        "DUPLICATE"
    );
    assert_eq!(again.data()["recordProgrammeActivity"]["sequence"], 2);

    // Targets, as the administrator.
    let target = app
        .graphql(
            "mutation { setIndicatorTarget(programmeCode: \"AMUDDU-RSK\", indicator: FOLLOW_UP_RATE, target: 75) { targets { indicator target } } }",
            json!({}),
            Some(&admin),
        )
        .await;
    assert_eq!(
        target.data()["setIndicatorTarget"]["targets"],
        json!([{ "indicator": "FOLLOW_UP_RATE", "target": 75.0 }])
    );
    let refused = app
        .graphql(
            "mutation { setIndicatorTarget(programmeCode: \"AMUDDU-RSK\", indicator: FOLLOW_UP_RATE, target: 175) { code } }",
            json!({}),
            Some(&admin),
        )
        .await;
    let (code, _, field) = refused.single_error();
    assert_eq!(
        (code.as_str(), field.as_deref()),
        ("VALIDATION", Some("target"))
    );
    let refused = app
        .graphql(
            "mutation { setIndicatorTarget(programmeCode: \"AMUDDU-RSK\", indicator: IDENTIFIED, target: 100) { code } }",
            json!({}),
            Some(&partner),
        )
        .await;
    assert_eq!(refused.single_error().0, "FORBIDDEN");

    // The indicator table: exact for the administrator, the single person suppressed for
    // the partner; the target as set; labels in the language asked.
    let query = r#"query($language: String) { indicators(programmeCode: "AMUDDU-RSK", language: $language) {
        programmeCode position period { from }
        indicators { code label kind value numerator denominator target suppressed } } }"#;
    let as_admin = app
        .graphql(query, json!({ "language": "en" }), Some(&admin))
        .await;
    let report = &as_admin.data()["indicators"];
    assert_eq!(report["period"]["from"], "2023-01-01");
    assert!(report["position"].as_str().unwrap().parse::<i64>().unwrap() >= 9);
    let find = |report: &Value, code: &str| {
        report["indicators"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["code"] == code)
            .unwrap()
            .clone()
    };
    let identified = find(report, "IDENTIFIED");
    assert_eq!(identified["label"], "People identified");
    assert_eq!(
        (&identified["value"], &identified["suppressed"]),
        (&json!(1.0), &json!(false))
    );
    assert_eq!(find(report, "FOLLOW_UP_RATE")["target"], 75.0);
    assert_eq!(find(report, "COMPANIES_ENGAGED")["value"], 1.0);
    let as_partner = app.graphql(query, json!({}), Some(&partner)).await;
    let identified = find(&as_partner.data()["indicators"], "IDENTIFIED");
    assert_eq!(identified["label"], "Personnes identifiées");
    assert_eq!(
        (&identified["value"], &identified["suppressed"]),
        (&Value::Null, &json!(true))
    );

    // Erasure by the owning partner: the personal data is gone for good.
    let erased = app
        .graphql(
            "mutation($id: UUID!) { erasePersonalData(beneficiaryId: $id, reason: \"asked by the person\") { personalDataErased personalData { fullName } } }",
            json!({ "id": beneficiary }),
            Some(&partner),
        )
        .await;
    assert_eq!(
        erased.data()["erasePersonalData"],
        json!({ "personalDataErased": true, "personalData": null })
    );
    let as_admin = app
        .graphql(BENEFICIARY, json!({ "id": beneficiary }), Some(&admin))
        .await;
    assert_eq!(as_admin.data()["beneficiary"]["personalData"], Value::Null);
}

#[tokio::test]
async fn every_operation_needs_a_live_token() {
    let World {
        app,
        admin,
        partner: _,
    } = world().await;
    for token in [
        None,
        Some("not-a-token"),
        Some("masar_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
    ] {
        for query in [
            "{ me { role } }",
            "{ __schema { queryType { name } } }",
            "mutation { revokeApiToken(id: \"67e55044-10b1-426f-9247-bb680e5fe0c8\") }",
        ] {
            let response = app.graphql(query, json!({}), token).await;
            assert_eq!(
                response.single_error().0,
                "UNAUTHENTICATED",
                "{token:?} {query}"
            );
            assert_eq!(response.body["data"], Value::Null);
        }
    }

    // A revoked token stops working at once.
    let response = app
        .graphql(
            "mutation { issueApiToken(organisationCode: \"ANAPEC\", role: DASHBOARD, label: \"screen\") { id secret } }",
            json!({}),
            Some(&admin),
        )
        .await;
    let issued = response.data()["issueApiToken"].clone();
    let secret = issued["secret"].as_str().unwrap();
    let me = app
        .graphql("{ me { role } }", json!({}), Some(secret))
        .await;
    assert_eq!(me.data()["me"]["role"], "DASHBOARD");
    let revoked = app
        .graphql(
            "mutation($id: UUID!) { revokeApiToken(id: $id) }",
            json!({ "id": issued["id"] }),
            Some(&admin),
        )
        .await;
    assert_eq!(revoked.data()["revokeApiToken"], true);
    let me = app
        .graphql("{ me { role } }", json!({}), Some(secret))
        .await;
    let (code, message, _) = me.single_error();
    assert_eq!(code, "UNAUTHENTICATED");
    assert!(message.contains("revoked"), "{message}");

    // A role that may not administer.
    let response = app
        .graphql(
            "mutation { registerOrganisation(input: { code: \"CEFA\", name: \"CEFA\" }) { code } }",
            json!({}),
            Some(&issue(&app, &admin, "ANAPEC", "AUDITOR").await),
        )
        .await;
    assert_eq!(response.single_error().0, "FORBIDDEN");
}

#[tokio::test]
async fn requests_that_ask_too_much_are_refused_with_their_code() {
    let World {
        app,
        admin,
        partner,
    } = world().await;

    // 1001 events: the whole request is refused, nothing is recorded.
    let beneficiary = Uuid::new_v4();
    let events: Vec<Value> = (0..1001)
        .map(|_| {
            submission(
                Uuid::new_v4(),
                beneficiary,
                "2024-03-02T09:00:00Z",
                json!({ "sensitised": { "topic": "t" } }),
            )
        })
        .collect();
    let response = app
        .graphql(RECORD, json!({ "events": events }), Some(&partner))
        .await;
    let (code, _, field) = response.single_error();
    assert_eq!(code, "BATCH_TOO_LARGE");
    assert_eq!(field.as_deref(), Some("events"));
    let stored: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE aggregate_type = 'Beneficiary'")
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(stored, 0);

    // Too deep: past the depth limit, and past the parser's recursion limit.
    for levels in [20, 100] {
        let query = format!(
            "{{ __schema {{ types {{ {}name{} }} }} }}",
            "ofType { ".repeat(levels),
            " }".repeat(levels)
        );
        let response = app.graphql(&query, json!({}), Some(&admin)).await;
        assert_eq!(response.single_error().0, "QUERY_TOO_COMPLEX", "{levels}");
    }
    // Too many fields at once.
    let aliases: String = (0..1200).map(|i| format!("a{i}: me {{ role }} ")).collect();
    let response = app
        .graphql(&format!("{{ {aliases} }}"), json!({}), Some(&admin))
        .await;
    assert_eq!(response.single_error().0, "QUERY_TOO_COMPLEX");

    // Requests that do not parse or validate, or values that do not coerce.
    for (query, variables) in [
        ("{ me { role }", json!({})),
        ("{ nope }", json!({})),
        (
            "query($id: UUID!) { beneficiary(id: $id) { id } }",
            json!({ "id": "not-a-uuid" }),
        ),
    ] {
        let response = app.graphql(query, variables, Some(&admin)).await;
        assert_eq!(response.error_codes(), ["VALIDATION"], "{query}");
    }

    // A body over the limit.
    let huge = "x".repeat(3 * 1024 * 1024);
    // (Its own client: the server answers before reading the whole body and closes that
    // connection.)
    let response = reqwest::Client::new()
        .post(format!("{}/graphql", app.address))
        .bearer_auth(&admin)
        .json(&json!({ "query": format!("{{ me {{ role }} }} # {huge}") }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "BATCH_TOO_LARGE");

    // Subscriptions are served over WebSocket only, and POST says where.
    let response = app
        .graphql(
            "subscription { journeyEvents { eventType } }",
            json!({}),
            Some(&admin),
        )
        .await;
    let (code, message, _) = response.single_error();
    assert_eq!(code, "VALIDATION");
    assert!(message.contains("/graphql/ws"), "{message}");

    // Introspection is on by default, and GraphiQL is served.
    let response = app
        .graphql(
            "{ __schema { queryType { name } } }",
            json!({}),
            Some(&admin),
        )
        .await;
    assert_eq!(response.data()["__schema"]["queryType"]["name"], "Query");
    let page = app
        .client
        .get(format!("{}/graphql", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("graphiql"));
}

#[tokio::test]
async fn introspection_can_be_switched_off() {
    let app = spawn_app_with(&[("MASAR_GRAPHQL_INTROSPECTION", "false")]).await;
    let admin = app.issue_token("ENABEL", "admin", Some("Enabel"));
    let response = app
        .graphql(
            "{ __schema { queryType { name } } }",
            json!({}),
            Some(&admin),
        )
        .await;
    assert_eq!(response.error_codes(), ["VALIDATION"]);
    let me = app
        .graphql("{ me { role } }", json!({}), Some(&admin))
        .await;
    assert_eq!(me.data()["me"]["role"], "ADMIN");
}

#[tokio::test]
async fn a_leap_second_is_refused_naming_the_field_and_nothing_is_recorded() {
    let World {
        app,
        admin,
        partner,
    } = world().await;
    let beneficiary = Uuid::new_v4();
    let payload = record(
        &app,
        &partner,
        vec![submission(
            Uuid::new_v4(),
            beneficiary,
            "2024-06-30T09:00:00Z",
            identified(),
        )],
    )
    .await;
    assert_eq!(payload["accepted"], 1, "{payload:#}");
    let head = log_head(&app, &admin).await;

    // Journey events dated at a leap second, in UTC and with an offset.
    for (leap, before, after) in [
        (
            "2024-06-30T23:59:60Z",
            "2024-06-30T23:59:59Z",
            "2024-07-01T00:00:00Z",
        ),
        (
            "2024-07-01T01:59:60.5+02:00",
            "2024-06-30T23:59:59Z",
            "2024-07-01T00:00:00Z",
        ),
    ] {
        let payload = record(
            &app,
            &partner,
            vec![submission(
                Uuid::new_v4(),
                beneficiary,
                leap,
                json!({ "sensitised": { "topic": "Droits du travail" } }),
            )],
        )
        .await;
        assert_eq!(payload["rejected"], 1, "{payload:#}");
        let result = &payload["results"][0];
        assert_eq!(result["status"], "REJECTED");
        assert_eq!(result["error"]["code"], "VALIDATION");
        assert_eq!(result["error"]["field"], "occurredAt");
        let message = result["error"]["message"].as_str().unwrap();
        assert!(message.contains("leap second"), "{message}");
        assert!(message.contains(before), "{message}");
        assert!(message.contains(after), "{message}");
    }

    // A programme activity too.
    let activity = app
        .graphql(
            r#"mutation($input: ProgrammeActivitySubmission!) {
                recordProgrammeActivity(input: $input) { status error { code field message } } }"#,
            json!({ "input": {
                "activityId": Uuid::new_v4(), "programmeCode": "AMUDDU-RSK",
                "occurredAt": "2024-06-30T23:59:60Z",
                "activity": { "companyEngaged": { "companyName": "Atlas Textiles", "rseLabelled": true } },
            }}),
            Some(&partner),
        )
        .await;
    let result = &activity.data()["recordProgrammeActivity"];
    assert_eq!(result["status"], "REJECTED", "{result:#}");
    assert_eq!(result["error"]["code"], "VALIDATION");
    assert_eq!(result["error"]["field"], "occurredAt");
    assert_eq!(log_head(&app, &admin).await, head, "something was recorded");

    // The second before is recorded as any other.
    let payload = record(
        &app,
        &partner,
        vec![submission(
            Uuid::new_v4(),
            beneficiary,
            "2024-06-30T23:59:59.999Z",
            json!({ "sensitised": { "topic": "Droits du travail" } }),
        )],
    )
    .await;
    assert_eq!(payload["accepted"], 1, "{payload:#}");
}
