//! Subscriptions over graphql-ws (the `graphql-transport-ws` protocol) with a real websocket
//! client: `journeyEvents` notices arrive for events recorded over HTTP, filtered by programme
//! and by what the role may see; `indicatorsUpdated` reaches every role subscribed to the
//! programme written to, and no one else, at most once a second; a connection without a live
//! token is closed with the reason; a token revoked while its sockets are open closes them,
//! and the HTTP safeguards hold on the socket too (message size, request timeout, error codes)
//! along with its own limits (connection_init wait, operations per socket, sockets per token).

use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use uuid::Uuid;

use crate::fixtures::{
    identified, identified_in, issue, issue_with_id, log_head, read_beneficiary, record,
    register_organisation, register_programme, submission, world, world_on, RECORD,
};
use crate::helpers::{spawn_app_with, TestApp, MASAR};

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

/// Opens a socket speaking `protocol` (`graphql-transport-ws`, or `graphql-ws` for the older
/// subscriptions-transport-ws), without sending anything.
async fn open_with(app: &TestApp, protocol: &'static str) -> Socket {
    let url = app.address.replace("http://", "ws://") + "/graphql/ws";
    let mut request = url.into_client_request().unwrap();
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", HeaderValue::from_static(protocol));
    let (socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    socket
}

/// [`open_with`] graphql-transport-ws.
async fn open(app: &TestApp) -> Socket {
    open_with(app, "graphql-transport-ws").await
}

/// Sends `message` as JSON text.
async fn send(socket: &mut Socket, message: Value) {
    socket
        .send(Message::Text(message.to_string().into()))
        .await
        .unwrap();
}

/// Sends `connection_init` with `token`: the server's first message (other than a ping), if
/// one came.
async fn init(socket: &mut Socket, token: &str) -> Option<Message> {
    let init = json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } });
    send(socket, init).await;
    loop {
        match tokio::time::timeout(Duration::from_secs(10), socket.next()).await {
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
            Ok(Some(Ok(message))) => break Some(message),
            _ => break None,
        }
    }
}

/// Connects and sends `connection_init` with `token`: the socket and the server's first
/// message (other than a ping), if one came.
async fn connect(app: &TestApp, token: &str) -> (Socket, Option<Message>) {
    let mut socket = open(app).await;
    let first = init(&mut socket, token).await;
    (socket, first)
}

/// Connects and authenticates with `token`, checking the server acknowledges it.
async fn connected(app: &TestApp, token: &str) -> Socket {
    let (socket, first) = connect(app, token).await;
    let ack = match &first {
        Some(Message::Text(text)) => serde_json::from_str::<Value>(text.as_str()).unwrap(),
        other => panic!("expected connection_ack, got {other:?}"),
    };
    assert_eq!(ack["type"], "connection_ack", "{ack:#}");
    socket
}

/// Starts operation `id`: `query` with `variables`.
async fn start(socket: &mut Socket, id: &str, query: &str, variables: Value) {
    let start = json!({ "id": id, "type": "subscribe", "payload": { "query": query, "variables": variables } });
    send(socket, start).await;
}

/// Connects, authenticates with `token` (checking the server acknowledges it) and starts
/// `query` with `variables`.
async fn subscribe_to(app: &TestApp, token: &str, query: &str, variables: Value) -> Socket {
    let mut socket = connected(app, token).await;
    start(&mut socket, "1", query, variables).await;
    socket
}

/// Reads until the server closes the socket or `wait` passes: the close frame's code and
/// reason (`None` when no close frame came), and the JSON messages received before it.
async fn closed(socket: &mut Socket, wait: Duration) -> (Option<(u16, String)>, Vec<Value>) {
    let deadline = tokio::time::Instant::now() + wait;
    let mut messages = Vec::new();
    loop {
        let message = match tokio::time::timeout_at(deadline, socket.next()).await {
            Ok(Some(Ok(message))) => message,
            _ => return (None, messages),
        };
        match message {
            Message::Text(text) => messages.push(serde_json::from_str(text.as_str()).unwrap()),
            Message::Close(Some(frame)) => {
                return (
                    Some((u16::from(frame.code), frame.reason.as_str().to_owned())),
                    messages,
                )
            }
            Message::Close(None) => return (None, messages),
            _ => {}
        }
    }
}

/// [`subscribe_to`] `journeyEvents`, of `programme` or of every programme.
async fn subscribe(app: &TestApp, token: &str, programme: Option<&str>) -> Socket {
    subscribe_to(app, token, SUBSCRIBE, json!({ "programme": programme })).await
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
    let mut refused = subscribe(app, &dashboard, None).await;
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

    let mut everything = subscribe(app, &auditor, None).await;
    let mut amuddu_only = subscribe(app, admin, Some("AMUDDU-RSK")).await;
    let mut anapec_own = subscribe(app, &anapec, None).await;
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
}

#[tokio::test]
async fn a_connection_without_a_live_token_is_closed_with_the_reason() {
    let world = world().await;
    let (app, admin) = (&world.app, &world.admin);
    let (revoked_id, revoked) = issue_with_id(app, admin, "REMESS", "PARTNER").await;
    let response = app
        .graphql(
            "mutation($id: UUID!) { revokeApiToken(id: $id) }",
            json!({ "id": revoked_id }),
            Some(admin),
        )
        .await;
    assert_eq!(response.data()["revokeApiToken"], true);
    let unknown = format!("masar_{}", "A".repeat(43));
    // async-graphql answers a refused `connection_init` on graphql-transport-ws with a close
    // frame 1002 (protocol error) whose reason is the UNAUTHENTICATED error's message; no
    // `connection_ack`, and nothing after the close.
    for (token, reason) in [
        (
            "masar_not-a-token",
            "the bearer token is not a Masar API token (those start with `masar_` and are 49 \
             characters long): check it was copied whole",
        ),
        (
            unknown.as_str(),
            "the API token is not known: check it was copied whole, or ask an administrator for \
             a new one",
        ),
        (
            revoked.as_str(),
            "the API token was revoked: ask an administrator for a new one",
        ),
    ] {
        let (mut socket, first) = connect(app, token).await;
        match first {
            Some(Message::Close(Some(frame))) => {
                assert_eq!(frame.code, CloseCode::Protocol, "{token}: {frame:?}");
                assert_eq!(frame.reason.as_str(), reason, "{token}");
            }
            other => panic!("{token}: expected a close frame, got {other:?}"),
        }
        let after = next_json(&mut socket, Duration::from_millis(500)).await;
        assert_eq!(after, None, "{token}");
    }
}

// ------------------------------------------------------------------ indicatorsUpdated

const INDICATORS_UPDATED: &str = "subscription($programme: String!) { indicatorsUpdated(programmeCode: $programme) { programmeCode position } }";

/// [`subscribe_to`] `indicatorsUpdated` of `programme`.
async fn subscribe_to_updates(app: &TestApp, token: &str, programme: &str) -> Socket {
    subscribe_to(
        app,
        token,
        INDICATORS_UPDATED,
        json!({ "programme": programme }),
    )
    .await
}

/// The next indicator update within `wait`, checked to be one (no error): its programme and
/// position, and when it arrived.
async fn next_update(socket: &mut Socket, wait: Duration) -> Option<(String, i64, Instant)> {
    let message = next_json(socket, wait).await?;
    let arrived = Instant::now();
    assert_eq!(message["type"], "next", "{message:#}");
    assert_eq!(message["payload"].get("errors"), None, "{message:#}");
    let update = &message["payload"]["data"]["indicatorsUpdated"];
    assert_eq!(update.as_object().map(|o| o.len()), Some(2), "{message:#}");
    Some((
        update["programmeCode"].as_str().unwrap().to_owned(),
        update["position"].as_str().unwrap().parse().unwrap(),
        arrived,
    ))
}

/// Waits until every projection reflects the whole log, then a tick of the update watcher
/// more, so that nothing recorded before is announced after.
async fn settle(app: &TestApp, admin: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let response = app
            .graphql("{ projections { lag } }", json!({}), Some(admin))
            .await;
        let projections = response.data()["projections"].as_array().unwrap().clone();
        if projections.iter().all(|p| p["lag"] == 0) {
            break;
        }
        assert!(Instant::now() < deadline, "{projections:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
}

/// Identifies a new beneficiary in `programme` as `token`: the event's global position.
/// Records, as `token`, the identification of a new beneficiary in AMUDDU-RSK, checking it
/// is accepted.
async fn identify_someone(app: &TestApp, token: &str) {
    let accepted = record(
        app,
        token,
        vec![submission(
            Uuid::new_v4(),
            Uuid::new_v4(),
            "2024-03-01T09:00:00Z",
            identified(),
        )],
    )
    .await;
    assert_eq!(accepted["accepted"], 1, "{accepted:#}");
}

async fn identify_in(app: &TestApp, token: &str, admin: &str, programme: &str) -> i64 {
    let beneficiary = Uuid::new_v4();
    let accepted = record(
        app,
        token,
        vec![submission(
            Uuid::new_v4(),
            beneficiary,
            "2024-03-01T09:00:00Z",
            identified_in(programme, &[], None),
        )],
    )
    .await;
    assert_eq!(accepted["accepted"], 1, "{accepted:#}");
    let stream = app
        .graphql(
            "query($id: String!) { stream(aggregateId: $id) { globalPosition } }",
            json!({ "id": beneficiary.to_string() }),
            Some(admin),
        )
        .await;
    stream.data()["stream"][0]["globalPosition"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// How often the server looks for indicator updates.
fn indicator_updates_interval() -> Duration {
    masar::indicator_updates::INTERVAL
}

#[tokio::test]
async fn indicator_updates_reach_every_role_of_the_programme_and_no_one_else() {
    let world = world().await;
    let (app, admin, partner) = (&world.app, &world.admin, &world.partner);
    register_programme(app, admin, "WORK4LIFE", &["ANAPEC"]).await;
    let anapec = issue(app, admin, "ANAPEC", "PARTNER").await;
    let auditor = issue(app, admin, "ENABEL", "AUDITOR").await;
    let dashboard = issue(app, admin, "ENABEL", "DASHBOARD").await;
    settle(app, admin).await;
    // The registrations above changed WORK4LIFE's figures (its programme stream): let the
    // watcher announce that, to nobody yet, before subscribing.
    tokio::time::sleep(indicator_updates_interval() * 5 / 2).await;

    let mut amuddu = Vec::new();
    for (role, token) in [
        ("ADMIN", admin.as_str()),
        ("PARTNER", partner.as_str()),
        ("AUDITOR", auditor.as_str()),
        ("DASHBOARD", dashboard.as_str()),
    ] {
        amuddu.push((role, subscribe_to_updates(app, token, "AMUDDU-RSK").await));
    }
    let mut work4life = subscribe_to_updates(app, admin, "WORK4LIFE").await;
    // Give the subscriptions a moment to be registered before recording.
    tokio::time::sleep(Duration::from_millis(300)).await;

    // A write to AMUDDU-RSK: every subscriber of AMUDDU-RSK hears of it within a few seconds,
    // at a position that covers the event.
    let written = identify_in(app, partner, admin, "AMUDDU-RSK").await;
    for (role, socket) in &mut amuddu {
        let (programme, position, _) = next_update(socket, Duration::from_secs(10))
            .await
            .unwrap_or_else(|| panic!("{role}: no update"));
        assert_eq!(programme, "AMUDDU-RSK", "{role}");
        assert!(position >= written, "{role}: {position} < {written}");
    }
    // ... and the subscriber of WORK4LIFE of nothing, even a few ticks later.
    let other = next_json(&mut work4life, Duration::from_millis(2500)).await;
    assert_eq!(other, None, "{other:?}");

    // A write to WORK4LIFE: its subscriber hears of it, those of AMUDDU-RSK do not.
    let written = identify_in(app, &anapec, admin, "WORK4LIFE").await;
    let (programme, position, _) = next_update(&mut work4life, Duration::from_secs(10))
        .await
        .expect("an update of WORK4LIFE");
    assert_eq!(programme, "WORK4LIFE");
    assert!(position >= written, "{position} < {written}");
    for (role, socket) in &mut amuddu {
        let other = next_json(socket, Duration::from_millis(500)).await;
        assert_eq!(other, None, "{role}: {other:?}");
    }
}

#[tokio::test]
async fn indicator_updates_come_at_most_once_a_second_per_programme() {
    let world = world().await;
    let (app, admin, partner) = (&world.app, &world.admin, &world.partner);
    settle(app, admin).await;
    let mut socket = subscribe_to_updates(app, admin, "AMUDDU-RSK").await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Twelve batches a quarter of a second apart: three seconds of writes, read as they come.
    let mut updates: Vec<(i64, Instant)> = Vec::new();
    let mut last_written = 0;
    for _ in 0..12 {
        last_written = identify_in(app, partner, admin, "AMUDDU-RSK").await;
        let pause = tokio::time::sleep(Duration::from_millis(250));
        tokio::pin!(pause);
        loop {
            tokio::select! {
                () = &mut pause => break,
                update = next_update(&mut socket, Duration::from_secs(60)) => {
                    let (programme, position, arrived) = update.expect("the subscription ended");
                    assert_eq!(programme, "AMUDDU-RSK");
                    updates.push((position, arrived));
                }
            }
        }
    }
    // Then until the last event is covered, and a few ticks more for any update left.
    while updates
        .last()
        .is_none_or(|(position, _)| *position < last_written)
    {
        let (programme, position, arrived) = next_update(&mut socket, Duration::from_secs(10))
            .await
            .unwrap_or_else(|| panic!("no update covers position {last_written}: {updates:?}"));
        assert_eq!(programme, "AMUDDU-RSK");
        updates.push((position, arrived));
    }
    let extra = next_json(&mut socket, Duration::from_millis(2500)).await;
    assert_eq!(extra, None, "an update with nothing new: {extra:?}");

    // Several updates (the writes spanned several ticks), never two within a second (with
    // some slack for the time each tick takes), positions never going back.
    assert!(updates.len() >= 2, "{updates:?}");
    for pair in updates.windows(2) {
        let ((before, at), (after, next)) = (pair[0], pair[1]);
        let spacing = next.duration_since(at);
        assert!(
            spacing >= Duration::from_millis(700),
            "two updates {spacing:?} apart: {updates:?}"
        );
        assert!(before <= after, "{updates:?}");
    }
    let span = updates
        .last()
        .unwrap()
        .1
        .duration_since(updates.first().unwrap().1);
    assert!(
        updates.len() as u64 <= span.as_secs() + 2,
        "{} updates in {span:?}",
        updates.len()
    );
}

#[tokio::test]
async fn indicator_updates_of_an_unknown_programme_are_refused() {
    let world = world().await;
    let mut socket = subscribe_to_updates(&world.app, &world.partner, "NOPE").await;
    let answer = next_json(&mut socket, Duration::from_secs(10))
        .await
        .expect("an answer to the subscription");
    assert_eq!(answer["type"], "next", "{answer:#}");
    assert_eq!(answer["payload"]["data"], Value::Null, "{answer:#}");
    let errors = answer["payload"]["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{answer:#}");
    assert_eq!(
        errors[0]["extensions"],
        json!({ "code": "UNKNOWN_PROGRAMME", "field": "programmeCode" }),
        "{answer:#}"
    );
    assert!(
        errors[0]["message"].as_str().unwrap().contains("NOPE"),
        "{answer:#}"
    );
    let end = next_json(&mut socket, Duration::from_secs(10)).await;
    assert_eq!(
        end.as_ref().map(|m| &m["type"]),
        Some(&json!("complete")),
        "{end:?}"
    );
}

// ------------------------------------------------------------------ tokens and limits

/// Whether any of `messages` is an answer with data for operation `id` (an operation that
/// ran), rather than an error.
fn ran(messages: &[Value], id: &str) -> bool {
    messages.iter().any(|message| {
        message["id"] == id && message["type"] == "next" && !message["payload"]["data"].is_null()
    })
}

#[tokio::test]
async fn a_revoked_token_closes_its_sockets_and_nothing_sent_after_runs() {
    let world = world().await;
    let (app, admin, partner) = (&world.app, &world.admin, &world.partner);
    let (revoked_id, revoked) = issue_with_id(app, admin, "REMESS", "PARTNER").await;
    let (cli_revoked_id, cli_revoked) = issue_with_id(app, admin, "REMESS", "PARTNER").await;
    let mut subscribed = subscribe(app, &revoked, None).await;
    let mut idle = connected(app, &revoked).await;
    let mut other = subscribe(app, &cli_revoked, None).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    // While the tokens are live, their subscriptions deliver.
    identify_someone(app, partner).await;
    assert_eq!(notices(&mut subscribed, 1).await.len(), 1);
    assert_eq!(notices(&mut other, 1).await.len(), 1);

    // Revoked by an administrator over the API.
    let response = app
        .graphql(
            "mutation($id: UUID!) { revokeApiToken(id: $id) }",
            json!({ "id": revoked_id }),
            Some(admin),
        )
        .await;
    assert_eq!(response.data()["revokeApiToken"], true);
    let revoked_at = Instant::now();
    let head = log_head(app, admin).await;
    // A mutation sent afterwards on a socket opened before is not executed (the socket may
    // already be closed, in which case sending fails).
    let late = Uuid::new_v4();
    let mutation = json!({ "id": "late", "type": "subscribe", "payload": {
        "query": RECORD,
        "variables": { "events": [submission(Uuid::new_v4(), late, "2024-03-02T09:00:00Z", identified())] },
    }});
    let _ = idle.send(Message::Text(mutation.to_string().into())).await;
    // Every socket of the token is closed with 4403 within a few seconds.
    for (name, socket) in [("subscribed", &mut subscribed), ("idle", &mut idle)] {
        let (close, messages) = closed(socket, Duration::from_secs(10)).await;
        let (code, reason) = close.unwrap_or_else(|| panic!("{name}: not closed: {messages:?}"));
        assert_eq!(code, 4403, "{name}: {reason}");
        assert!(reason.contains("revoked"), "{name}: {reason}");
        assert!(!ran(&messages, "late"), "{name}: {messages:?}");
        assert!(
            messages.iter().all(|m| m["type"] != "next"
                || m["payload"]["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"),
            "{name}: {messages:?}"
        );
    }
    assert!(
        revoked_at.elapsed() < Duration::from_secs(5),
        "{:?}",
        revoked_at.elapsed()
    );
    assert_eq!(read_beneficiary(app, admin, late).await, Value::Null);
    assert_eq!(log_head(app, admin).await, head);

    // Revoked from the command line, by another process: its socket is closed as well.
    let output = std::process::Command::new(MASAR)
        .args(["token", "revoke", &cli_revoked_id])
        .env("DATABASE_URL", &app.db.url)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let revoked_at = Instant::now();
    let (close, messages) = closed(&mut other, Duration::from_secs(10)).await;
    let (code, reason) = close.unwrap_or_else(|| panic!("not closed: {messages:?}"));
    assert_eq!(code, 4403, "{reason}");
    assert!(
        revoked_at.elapsed() < Duration::from_secs(5),
        "{:?}",
        revoked_at.elapsed()
    );
}

/// A `subscribe` message of `{ me { role } }` padded to `size` bytes with an unused variable.
fn padded_message(id: &str, size: usize) -> String {
    let message = |pad: String| {
        json!({ "id": id, "type": "subscribe", "payload": {
            "query": "{ me { role } }",
            "variables": { "pad": pad },
        }})
        .to_string()
    };
    let empty = message(String::new()).len();
    message("x".repeat(size - empty))
}

#[tokio::test]
async fn a_message_over_2_mib_closes_the_socket_with_1009_unexecuted() {
    let world = world().await;
    let (app, admin) = (&world.app, &world.admin);
    // Just under the limit: served.
    let mut socket = connected(app, admin).await;
    socket
        .send(Message::Text(
            padded_message("fits", 2 * 1024 * 1024 - 1024).into(),
        ))
        .await
        .unwrap();
    let answer = next_json(&mut socket, Duration::from_secs(30))
        .await
        .expect("an answer");
    assert_eq!(answer["id"], "fits", "{answer:#}");
    assert_eq!(
        answer["payload"]["data"]["me"]["role"], "ADMIN",
        "{answer:#}"
    );

    for size in [3 * 1024 * 1024, 15 * 1024 * 1024] {
        let mut socket = connected(app, admin).await;
        // The server may close the socket before the whole message is sent.
        let _ = socket
            .send(Message::Text(padded_message("big", size).into()))
            .await;
        let (close, messages) = closed(&mut socket, Duration::from_secs(10)).await;
        let (code, reason) = close.unwrap_or_else(|| panic!("{size}: not closed: {messages:?}"));
        assert_eq!(code, 1009, "{size}: {reason}");
        assert!(reason.contains("2 MiB"), "{size}: {reason}");
        assert!(messages.is_empty(), "{size}: {messages:?}");
    }
}

#[tokio::test]
async fn a_socket_without_connection_init_is_closed_4408_after_the_configured_wait() {
    let app = spawn_app_with(&[("MASAR_WS_INIT_TIMEOUT_MS", "500")]).await;
    let admin = app.issue_token("ENABEL", "admin", Some("Enabel"));
    let opened = Instant::now();
    let mut silent = open(&app).await;
    let (close, messages) = closed(&mut silent, Duration::from_secs(10)).await;
    assert_eq!(
        close,
        Some((4408, "Connection initialisation timeout".to_owned())),
        "{messages:?}"
    );
    let waited = opened.elapsed();
    assert!(
        waited >= Duration::from_millis(500) && waited < Duration::from_secs(5),
        "{waited:?}"
    );

    // A socket that sent it in time outlives that wait.
    let mut socket = connected(&app, &admin).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    start(&mut socket, "me", "{ me { role } }", json!({})).await;
    let answer = next_json(&mut socket, Duration::from_secs(10))
        .await
        .expect("an answer");
    assert_eq!(
        answer["payload"]["data"]["me"]["role"], "ADMIN",
        "{answer:#}"
    );
}

#[tokio::test]
async fn a_socket_runs_at_most_100_operations_at_once() {
    let world = world().await;
    let (app, admin, partner) = (&world.app, &world.admin, &world.partner);
    let mut socket = connected(app, admin).await;
    for i in 0..100 {
        start(&mut socket, &format!("s{i}"), SUBSCRIBE, json!({})).await;
    }
    // The one too many is refused at once, with a code, and completed.
    start(&mut socket, "s100", SUBSCRIBE, json!({})).await;
    let refused = next_json(&mut socket, Duration::from_secs(10))
        .await
        .expect("an answer to the 101st subscription");
    assert_eq!(refused["id"], "s100", "{refused:#}");
    assert_eq!(refused["type"], "next", "{refused:#}");
    assert_eq!(
        refused["payload"]["errors"][0]["extensions"]["code"], "BATCH_TOO_LARGE",
        "{refused:#}"
    );
    let end = next_json(&mut socket, Duration::from_secs(10)).await;
    assert_eq!(end, Some(json!({ "id": "s100", "type": "complete" })));
    tokio::time::sleep(Duration::from_millis(300)).await;

    // The hundred others keep running.
    let identify = |beneficiary| {
        vec![submission(
            Uuid::new_v4(),
            beneficiary,
            "2024-03-01T09:00:00Z",
            identified(),
        )]
    };
    record(app, partner, identify(Uuid::new_v4())).await;
    let ids = |messages: Vec<Value>| -> std::collections::BTreeSet<String> {
        messages
            .iter()
            .map(|m| {
                assert_eq!(m["type"], "next", "{m:#}");
                m["id"].as_str().unwrap().to_owned()
            })
            .collect()
    };
    let mut received = Vec::new();
    while received.len() < 100 {
        received.push(
            next_json(&mut socket, Duration::from_secs(15))
                .await
                .unwrap_or_else(|| panic!("{} notices only", received.len())),
        );
    }
    assert_eq!(ids(received), (0..100).map(|i| format!("s{i}")).collect());

    // Completing one makes room for another.
    send(&mut socket, json!({ "id": "s0", "type": "complete" })).await;
    let end = next_json(&mut socket, Duration::from_secs(10)).await;
    assert_eq!(end, Some(json!({ "id": "s0", "type": "complete" })));
    start(&mut socket, "s101", SUBSCRIBE, json!({})).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    record(app, partner, identify(Uuid::new_v4())).await;
    let mut received = Vec::new();
    while received.len() < 100 {
        received.push(
            next_json(&mut socket, Duration::from_secs(15))
                .await
                .unwrap_or_else(|| panic!("{} notices only", received.len())),
        );
    }
    // s1 to s99 and s101 (s100 was refused).
    assert_eq!(
        ids(received),
        (1..100).chain([101]).map(|i| format!("s{i}")).collect()
    );
}

#[tokio::test]
async fn a_token_holds_at_most_50_sockets() {
    let world = world().await;
    let (app, admin) = (&world.app, &world.admin);
    let partner = issue(app, admin, "REMESS", "PARTNER").await;
    let mut sockets = Vec::new();
    for _ in 0..50 {
        sockets.push(connected(app, &partner).await);
    }
    let (_, first) = connect(app, &partner).await;
    match first {
        Some(Message::Close(Some(frame))) => {
            assert_eq!(u16::from(frame.code), 4429, "{frame:?}");
            assert!(frame.reason.contains("50"), "{frame:?}");
        }
        other => panic!("expected a close frame, got {other:?}"),
    }
    // Other tokens are not held back.
    connected(app, admin).await;

    // Closing one makes room for another, and the others still work.
    let mut gone = sockets.pop().unwrap();
    gone.close(None).await.unwrap();
    while let Some(Ok(_)) = gone.next().await {}
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (socket, first) = connect(app, &partner).await;
        if let Some(Message::Text(text)) = &first {
            assert!(text.contains("connection_ack"), "{text}");
            sockets.push(socket);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no room after a socket closed: {first:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    start(&mut sockets[0], "me", "{ me { role } }", json!({})).await;
    let answer = next_json(&mut sockets[0], Duration::from_secs(10))
        .await
        .expect("an answer");
    assert_eq!(
        answer["payload"]["data"]["me"]["role"], "PARTNER",
        "{answer:#}"
    );
}

#[tokio::test]
async fn every_error_over_the_socket_carries_a_code() {
    let world = world().await;
    let (app, admin) = (&world.app, &world.admin);
    let mut socket = connected(app, admin).await;
    // async-graphql's own refusals: a field that does not exist, in a query and in a
    // subscription, and a variable that does not coerce.
    for (id, query, variables) in [
        ("query", "{ nope }", json!({})),
        (
            "subscription",
            "subscription { journeyEvents { nope } }",
            json!({}),
        ),
        (
            "variable",
            "query($id: UUID!) { beneficiary(id: $id) { id } }",
            json!({ "id": 12 }),
        ),
    ] {
        start(&mut socket, id, query, variables).await;
        let answer = next_json(&mut socket, Duration::from_secs(10))
            .await
            .unwrap_or_else(|| panic!("{id}: no answer"));
        assert_eq!(answer["id"], id, "{answer:#}");
        let errors = answer["payload"]["errors"].as_array().unwrap();
        assert!(!errors.is_empty(), "{answer:#}");
        for error in errors {
            assert_eq!(error["extensions"]["code"], "VALIDATION", "{answer:#}");
        }
        let end = next_json(&mut socket, Duration::from_secs(10)).await;
        assert_eq!(end, Some(json!({ "id": id, "type": "complete" })));
    }

    // The older protocol (subscriptions-transport-ws) refuses connection_init with a
    // connection_error message, which carries the code too.
    let mut legacy = open_with(app, "graphql-ws").await;
    let first = init(&mut legacy, &format!("masar_{}", "A".repeat(43))).await;
    let refusal = match &first {
        Some(Message::Text(text)) => serde_json::from_str::<Value>(text.as_str()).unwrap(),
        other => panic!("expected connection_error, got {other:?}"),
    };
    assert_eq!(refusal["type"], "connection_error", "{refusal:#}");
    assert_eq!(
        refusal["payload"]["extensions"]["code"], "UNAUTHENTICATED",
        "{refusal:#}"
    );
}

#[tokio::test]
async fn queries_over_the_socket_stop_at_the_request_timeout_and_subscriptions_do_not() {
    let world = world_on(spawn_app_with(&[("MASAR_REQUEST_TIMEOUT_MS", "2000")]).await).await;
    let (app, admin, partner) = (&world.app, &world.admin, &world.partner);
    let mut socket = connected(app, admin).await;
    start(&mut socket, "events", SUBSCRIBE, json!({})).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    // A query made slow by a lock held on the log.
    let mut lock = app.db.pool.begin().await.unwrap();
    sqlx::query("LOCK TABLE events IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *lock)
        .await
        .unwrap();
    let query = "{ eventLog(first: 0) { head } }";
    let sent = Instant::now();
    start(&mut socket, "slow", query, json!({})).await;
    let answer = next_json(&mut socket, Duration::from_secs(20))
        .await
        .expect("an answer to the slow query");
    let took = sent.elapsed();
    assert_eq!(answer["id"], "slow", "{answer:#}");
    assert_eq!(answer["payload"]["data"], Value::Null, "{answer:#}");
    let errors = answer["payload"]["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{answer:#}");
    assert_eq!(errors[0]["extensions"]["code"], "INTERNAL", "{answer:#}");
    assert!(
        errors[0]["message"].as_str().unwrap().contains("2 s"),
        "{answer:#}"
    );
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(10),
        "{took:?}"
    );
    let end = next_json(&mut socket, Duration::from_secs(10)).await;
    assert_eq!(end, Some(json!({ "id": "slow", "type": "complete" })));
    // Over HTTP, the same query is answered 408 after the same time.
    let response = app
        .client
        .post(format!("{}/graphql", app.address))
        .bearer_auth(admin)
        .json(&json!({ "query": query }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 408);
    lock.rollback().await.unwrap();

    // The subscription, older than the timeout by now, still delivers.
    identify_someone(app, partner).await;
    assert_eq!(notices(&mut socket, 1).await.len(), 1);
}
