//! `Subscription.journeyEvents` over graphql-ws (the `graphql-transport-ws` protocol) with a
//! real websocket client: notices arrive for events recorded over HTTP, filtered by programme
//! and by what the role may see, and a connection without a live token is refused.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use uuid::Uuid;

use crate::fixtures::{
    identified, issue, record, register_organisation, register_programme, submission, world,
};
use crate::helpers::TestApp;

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

const SUBSCRIBE: &str = "subscription($programme: String) { journeyEvents(programmeCode: $programme) { globalPosition programmeCode beneficiaryId eventType occurredAt } }";

async fn next_json(socket: &mut Socket, wait: Duration) -> Option<Value> {
    loop {
        let message = tokio::time::timeout(wait, socket.next())
            .await
            .ok()??
            .ok()?;
        match message {
            Message::Text(text) => return serde_json::from_str(text.as_str()).ok(),
            Message::Close(_) => return None,
            _ => continue,
        }
    }
}

/// Connects, authenticates with `token` and subscribes; `None` when the server refuses.
async fn subscribe(app: &TestApp, token: &str, programme: Option<&str>) -> Option<Socket> {
    let url = app.address.replace("http://", "ws://") + "/graphql/ws";
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static("graphql-transport-ws"),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let init = json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } });
    socket
        .send(Message::Text(init.to_string().into()))
        .await
        .unwrap();
    let ack = next_json(&mut socket, Duration::from_secs(10)).await?;
    if ack["type"] != "connection_ack" {
        return None;
    }
    let start = json!({ "id": "1", "type": "subscribe", "payload": { "query": SUBSCRIBE, "variables": { "programme": programme } } });
    socket
        .send(Message::Text(start.to_string().into()))
        .await
        .unwrap();
    Some(socket)
}

/// The notices received until `count` arrived or nothing came for a while.
async fn notices(socket: &mut Socket, count: usize) -> Vec<Value> {
    let mut received = Vec::new();
    while received.len() < count {
        let Some(message) = next_json(socket, Duration::from_secs(15)).await else {
            break;
        };
        if message["type"] == "next" {
            received.push(message["payload"]["data"]["journeyEvents"].clone());
        }
    }
    received
}

#[tokio::test]
async fn notices_arrive_filtered_by_programme_and_role() {
    let world = world().await;
    let (app, admin, partner) = (&world.app, &world.admin, &world.partner);
    // A second programme whose only partner is ANAPEC.
    register_organisation(app, admin, "CEFA", "CEFA").await;
    register_programme(app, admin, "WORK4LIFE", &["ANAPEC"]).await;
    let anapec = issue(app, admin, "ANAPEC", "PARTNER").await;
    let dashboard = issue(app, admin, "ENABEL", "DASHBOARD").await;

    let auditor = issue(app, admin, "ENABEL", "AUDITOR").await;

    // A DASHBOARD never sees an individual: its subscription ends with FORBIDDEN at once.
    let mut refused = subscribe(app, &dashboard, None).await.expect("dashboard");
    let answer = next_json(&mut refused, Duration::from_secs(10))
        .await
        .expect("an answer to the dashboard's subscription");
    assert_eq!(answer["type"], "next", "{answer:#}");
    assert_eq!(answer["payload"]["data"], Value::Null, "{answer:#}");
    assert_eq!(
        answer["payload"]["errors"][0]["extensions"]["code"], "FORBIDDEN",
        "{answer:#}"
    );
    let end = next_json(&mut refused, Duration::from_secs(10)).await;
    assert_eq!(
        end.as_ref().map(|m| &m["type"]),
        Some(&json!("complete")),
        "{end:?}"
    );

    let mut everything = subscribe(app, &auditor, None).await.expect("auditor");
    let mut amuddu_only = subscribe(app, admin, Some("AMUDDU-RSK"))
        .await
        .expect("admin");
    let mut anapec_own = subscribe(app, &anapec, None).await.expect("anapec");
    // Give the subscriptions a moment to be registered before recording.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let amuddu_person = Uuid::new_v4();
    let accepted = record(
        app,
        partner,
        vec![
            submission(
                Uuid::new_v4(),
                amuddu_person,
                "2024-03-01T09:00:00Z",
                identified(),
            ),
            submission(
                Uuid::new_v4(),
                amuddu_person,
                "2024-03-02T09:00:00Z",
                json!({ "sensitised": { "topic": "droits" } }),
            ),
        ],
    )
    .await;
    assert_eq!(accepted["accepted"], 2, "{accepted:#}");
    let work4life_person = Uuid::new_v4();
    let mut in_work4life = identified();
    in_work4life["identified"]["programmeCode"] = json!("WORK4LIFE");
    let accepted = record(
        app,
        &anapec,
        vec![submission(
            Uuid::new_v4(),
            work4life_person,
            "2024-04-01T09:00:00Z",
            in_work4life,
        )],
    )
    .await;
    assert_eq!(accepted["accepted"], 1, "{accepted:#}");

    let all = notices(&mut everything, 3).await;
    let kinds: Vec<(&str, &str)> = all
        .iter()
        .map(|n| {
            (
                n["programmeCode"].as_str().unwrap(),
                n["eventType"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("AMUDDU-RSK", "Identified"),
            ("AMUDDU-RSK", "Sensitised"),
            ("WORK4LIFE", "Identified")
        ]
    );
    assert_eq!(all[0]["beneficiaryId"], amuddu_person.to_string());
    assert_eq!(all[1]["occurredAt"], "2024-03-02T09:00:00Z");
    let positions: Vec<i64> = all
        .iter()
        .map(|n| n["globalPosition"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
    // No personal data field can be selected, and none is sent.
    assert!(all.iter().all(|n| n.as_object().unwrap().len() == 5));

    let amuddu = notices(&mut amuddu_only, 2).await;
    assert_eq!(amuddu.len(), 2);
    assert!(amuddu.iter().all(|n| n["programmeCode"] == "AMUDDU-RSK"));
    // A partner sees only its own beneficiaries: ANAPEC's WORK4LIFE person, not REMESS's.
    let own = notices(&mut anapec_own, 1).await;
    assert_eq!(own.len(), 1);
    assert_eq!(own[0]["beneficiaryId"], work4life_person.to_string());
    let more = next_json(&mut anapec_own, Duration::from_millis(500)).await;
    assert!(more.is_none(), "{more:?}");

    // Without a live token the connection is refused.
    assert!(subscribe(app, "masar_not-a-token", None).await.is_none());
}
