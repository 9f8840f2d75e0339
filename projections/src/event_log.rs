//! The raw event log as stored: rows of the `events` table and the canonical encoding of
//! their hash chain (see `docs/event-encoding.md`), recomputed here without trusting the
//! database.

use std::borrow::Cow;
use std::fmt::Write as _;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::{PgPool, Row};

/// One row of the `events` table, as an auditor reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    /// Position in the global log.
    pub global_position: i64,
    /// `Beneficiary`, `Programme` or `Organisation`.
    pub aggregate_type: String,
    /// The stream's id within its type.
    pub aggregate_id: String,
    /// 1-based position in the stream.
    pub sequence: i64,
    /// Event type name, e.g. `TrainingEnrolled`.
    pub event_type: String,
    /// Version of the event's shape.
    pub event_version: String,
    /// The event's fields.
    pub payload: Value,
    /// Envelope: event id, recording organisation, occurred_at.
    pub metadata: Value,
    /// When the store wrote the event.
    pub recorded_at: DateTime<Utc>,
    /// Hash of the stream's previous event, `None` for the first.
    pub previous_hash: Option<String>,
    /// Lower-case hex SHA-256 of this event's canonical encoding.
    pub hash: String,
}

impl StoredEvent {
    /// The canonical encoding that `hash` covers: the JSON array of the nine covered fields.
    pub fn canonical_encoding(&self) -> String {
        let mut out = String::with_capacity(512);
        let written: Result<(), std::convert::Infallible> = self.covered().write(
            &mut out,
            |out| {
                write_canonical(&self.payload, out);
                Ok(())
            },
            |out| {
                write_canonical(&self.metadata, out);
                Ok(())
            },
        );
        match written {
            Ok(()) => out,
            Err(never) => match never {},
        }
    }

    /// The hash recomputed from the row's fields (including its stored `previous_hash`).
    pub fn recomputed_hash(&self) -> String {
        sha256_hex(self.canonical_encoding().as_bytes())
    }

    fn covered(&self) -> Covered<'_> {
        Covered {
            previous_hash: self.previous_hash.as_deref(),
            aggregate_type: &self.aggregate_type,
            aggregate_id: &self.aggregate_id,
            sequence: self.sequence,
            event_type: &self.event_type,
            event_version: &self.event_version,
            recorded_at: self.recorded_at,
        }
    }
}

/// The covered fields of an event other than its two JSON fields, which the encoding places
/// between `event_version` and `recorded_at`.
#[derive(Debug, Clone, Copy)]
pub struct Covered<'a> {
    /// Hash of the stream's previous event, `None` for the first.
    pub previous_hash: Option<&'a str>,
    /// The stream's type.
    pub aggregate_type: &'a str,
    /// The stream's id.
    pub aggregate_id: &'a str,
    /// 1-based position in the stream.
    pub sequence: i64,
    /// Event type name.
    pub event_type: &'a str,
    /// Version of the event's shape.
    pub event_version: &'a str,
    /// When the store wrote the event.
    pub recorded_at: DateTime<Utc>,
}

impl Covered<'_> {
    /// Appends the canonical encoding to `out`, `payload` and `metadata` writing the canonical
    /// JSON of those two fields in their places.
    pub fn write<E>(
        &self,
        out: &mut String,
        payload: impl FnOnce(&mut String) -> Result<(), E>,
        metadata: impl FnOnce(&mut String) -> Result<(), E>,
    ) -> Result<(), E> {
        out.push('[');
        match self.previous_hash {
            Some(hash) => write_string(hash, out),
            None => out.push_str("null"),
        }
        out.push(',');
        write_string(self.aggregate_type, out);
        out.push(',');
        write_string(self.aggregate_id, out);
        out.push(',');
        // Writing to a String cannot fail.
        let _ = write!(out, "{}", self.sequence);
        out.push(',');
        write_string(self.event_type, out);
        out.push(',');
        write_string(self.event_version, out);
        out.push(',');
        payload(out)?;
        out.push(',');
        metadata(out)?;
        out.push(',');
        write_string(&format_recorded_at(self.recorded_at), out);
        out.push(']');
        Ok(())
    }

    /// Appends the canonical encoding of an event whose JSON fields are given as JSON text (as
    /// `payload::text` reads them), canonicalised with [`write_canonical_text`].
    pub fn write_with_text(
        &self,
        out: &mut String,
        payload: &str,
        metadata: &str,
    ) -> Result<(), serde_json::Error> {
        self.write(
            out,
            |out| write_canonical_text(payload, out),
            |out| write_canonical_text(metadata, out),
        )
    }
}

/// `recorded_at` as the encoding writes it: UTC, always six fractional digits, `Z`.
pub fn format_recorded_at(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Canonical JSON: object keys sorted by their UTF-8 bytes, no white space, strings escaped
/// only where JSON requires it. Independent of serde_json's map ordering features.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push('{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(key, out);
                out.push(':');
                write_canonical(item, out);
            }
            out.push('}');
        }
    }
}

/// Appends the canonical JSON of the JSON text `json` — the same text [`canonical_json`] gives
/// for the value it parses to — without building a [`Value`]: objects are split into their
/// members as borrowed text, sorted, and each member canonicalised in turn. As when parsing,
/// the last of duplicate keys wins.
pub fn write_canonical_text(json: &str, out: &mut String) -> Result<(), serde_json::Error> {
    let text = json.trim_matches(|c| matches!(c, ' ' | '\t' | '\n' | '\r'));
    match text.as_bytes().first() {
        Some(b'{') => {
            let Members(mut members) = serde_json::from_str(text)?;
            members.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push('{');
            let mut first = true;
            for (index, (key, value)) in members.iter().enumerate() {
                if members.get(index + 1).is_some_and(|next| next.0 == *key) {
                    continue;
                }
                if !first {
                    out.push(',');
                }
                first = false;
                write_string(key, out);
                out.push(':');
                write_canonical_text(value.get(), out)?;
            }
            out.push('}');
        }
        Some(b'[') => {
            let items: Vec<&RawValue> = serde_json::from_str(text)?;
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_canonical_text(item.get(), out)?;
            }
            out.push(']');
        }
        Some(b'"') => {
            let JsonText(string) = serde_json::from_str(text)?;
            write_string(&string, out);
        }
        Some(b'-' | b'0'..=b'9') => {
            let number: serde_json::Number = serde_json::from_str(text)?;
            out.push_str(&number.to_string());
        }
        _ => {
            let value: Value = serde_json::from_str(text)?;
            write_canonical(&value, out);
        }
    }
    Ok(())
}

/// An object's members as borrowed text, in their written order.
struct Members<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'de> Deserialize<'de> for Members<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MembersVisitor;
        impl<'de> Visitor<'de> for MembersVisitor {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members<'de>, A::Error> {
                let mut members = Vec::with_capacity(map.size_hint().unwrap_or(8));
                while let Some(JsonText(key)) = map.next_key()? {
                    members.push((key, map.next_value()?));
                }
                Ok(Members(members))
            }
        }
        deserializer.deserialize_map(MembersVisitor)
    }
}

/// A JSON string, borrowed when it has no escapes.
struct JsonText<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for JsonText<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> Visitor<'de> for TextVisitor {
            type Value = JsonText<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON string")
            }
            fn visit_borrowed_str<E: serde::de::Error>(
                self,
                s: &'de str,
            ) -> Result<Self::Value, E> {
                Ok(JsonText(Cow::Borrowed(s)))
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Self::Value, E> {
                Ok(JsonText(Cow::Owned(s.to_owned())))
            }
        }
        deserializer.deserialize_str(TextVisitor)
    }
}

fn write_string(s: &str, out: &mut String) {
    out.push('"');
    // Without short-circuiting, so that the scan is vectorised.
    let plain = !s.bytes().fold(false, |escape, b| {
        escape | (b == b'"') | (b == b'\\') | (b < 0x20)
    });
    if plain {
        out.push_str(s);
        out.push('"');
        return;
    }
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0C}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// The columns [`from_row`] reads.
pub const SELECT_COLUMNS: &str = "global_position, aggregate_type, aggregate_id, sequence, \
    event_type, event_version, payload, metadata, recorded_at, previous_hash, hash";

/// A row of `events` selected with [`SELECT_COLUMNS`].
pub fn from_row(row: &sqlx::postgres::PgRow) -> Result<StoredEvent, sqlx::Error> {
    Ok(StoredEvent {
        global_position: row.try_get("global_position")?,
        aggregate_type: row.try_get("aggregate_type")?,
        aggregate_id: row.try_get("aggregate_id")?,
        sequence: row.try_get("sequence")?,
        event_type: row.try_get("event_type")?,
        event_version: row.try_get("event_version")?,
        payload: row.try_get("payload")?,
        metadata: row.try_get("metadata")?,
        recorded_at: row.try_get("recorded_at")?,
        previous_hash: row.try_get("previous_hash")?,
        hash: row.try_get("hash")?,
    })
}

/// Every event of one stream, in sequence order.
pub async fn read_stream(
    pool: &PgPool,
    aggregate_type: &str,
    aggregate_id: &str,
) -> Result<Vec<StoredEvent>, sqlx::Error> {
    let sql = format!(
        "SELECT {SELECT_COLUMNS} FROM events \
         WHERE aggregate_type = $1 AND aggregate_id = $2 ORDER BY sequence"
    );
    sqlx::query(&sql)
        .bind(aggregate_type)
        .bind(aggregate_id)
        .fetch_all(pool)
        .await?
        .iter()
        .map(from_row)
        .collect()
}

/// A page of the global log after `after` (exclusive), in global order.
pub async fn read_log(
    pool: &PgPool,
    after: i64,
    limit: i64,
) -> Result<Vec<StoredEvent>, sqlx::Error> {
    let sql = format!(
        "SELECT {SELECT_COLUMNS} FROM events WHERE global_position > $1 \
         ORDER BY global_position LIMIT $2"
    );
    sqlx::query(&sql)
        .bind(after)
        .bind(limit)
        .fetch_all(pool)
        .await?
        .iter()
        .map(from_row)
        .collect()
}

/// Where a stream's hash chain breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainProblem {
    /// The sequence numbers have a gap or do not start at 1.
    SequenceGap {
        /// The sequence expected at this point.
        expected: i64,
        /// The sequence found.
        found: i64,
    },
    /// `previous_hash` is not the hash of the preceding event.
    BrokenLink {
        /// Sequence of the event whose link is wrong.
        sequence: i64,
    },
    /// The stored hash does not match the event's recomputed hash.
    HashMismatch {
        /// Sequence of the altered event.
        sequence: i64,
    },
}

/// Checks one stream's events (in sequence order) against their hash chain.
pub fn verify_chain(events: &[StoredEvent]) -> Vec<ChainProblem> {
    let mut problems = Vec::new();
    let mut previous: Option<&StoredEvent> = None;
    for (index, event) in events.iter().enumerate() {
        let expected = index as i64 + 1;
        if event.sequence != expected {
            problems.push(ChainProblem::SequenceGap {
                expected,
                found: event.sequence,
            });
        }
        let expected_link = previous.map(|p| p.hash.as_str());
        if event.previous_hash.as_deref() != expected_link {
            problems.push(ChainProblem::BrokenLink {
                sequence: event.sequence,
            });
        }
        if event.recomputed_hash() != event.hash {
            problems.push(ChainProblem::HashMismatch {
                sequence: event.sequence,
            });
        }
        previous = Some(event);
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn canonical_json_sorts_keys_and_escapes_like_json() {
        let value = json!({"b": 1, "a": "x\ny é\u{1}\"\\/", "c": [true, null, {"z": 0, "y": -3}]});
        assert_eq!(
            canonical_json(&value),
            r#"{"a":"x\ny é\u0001\"\\/","b":1,"c":[true,null,{"y":-3,"z":0}]}"#
        );
    }

    #[test]
    fn canonical_text_agrees_with_canonical_json_on_written_forms() {
        let cases = [
            r#" { "b" : 1 , "a" : [ 1.0 , -0 , 1e2 , 12345678901234567890 ] } "#,
            r#"{"k":"caf\u00e9 \/ \ud83d\ude00 \n","k":"second wins","":null}"#,
            r#"[true,false,null,"",{},[]]"#,
            r#""just a string""#,
            "-1.5E-3",
        ];
        for text in cases {
            let value: Value = serde_json::from_str(text).unwrap();
            let mut out = String::new();
            write_canonical_text(text, &mut out).unwrap();
            assert_eq!(out, canonical_json(&value), "{text}");
        }
        assert!(write_canonical_text("{\"a\":1", &mut String::new()).is_err());
        assert!(write_canonical_text("[1,]", &mut String::new()).is_err());
    }

    /// JSON text for `value`, written as a client might: white space, members in any order,
    /// a duplicate key that a later member overrides, strings with optional escapes.
    fn written(value: &Value, choices: &mut dyn Iterator<Item = u8>, out: &mut String) {
        fn pick(choices: &mut dyn Iterator<Item = u8>, n: u8) -> u8 {
            choices.next().map_or(0, |c| c % n)
        }
        let space = |c: u8| [" ", "", "\n\t", "\r "][usize::from(c % 4)];
        match value {
            Value::Object(map) => {
                let mut members: Vec<_> = map.iter().collect();
                let turn = usize::from(pick(choices, 8)) % members.len().max(1);
                members.rotate_left(turn);
                out.push('{');
                if let Some((key, _)) = members.first().filter(|_| pick(choices, 3) == 0) {
                    out.push_str(&serde_json::to_string(key).unwrap());
                    out.push_str(":\"overridden\",");
                }
                for (index, (key, item)) in members.iter().enumerate() {
                    if index > 0 {
                        out.push(',');
                    }
                    out.push_str(space(pick(choices, 4)));
                    written_string(key, pick(choices, 2) == 0, out);
                    out.push_str(space(pick(choices, 4)));
                    out.push(':');
                    written(item, choices, out);
                }
                out.push('}');
            }
            Value::Array(items) => {
                out.push('[');
                for (index, item) in items.iter().enumerate() {
                    if index > 0 {
                        out.push_str(space(pick(choices, 4)));
                        out.push(',');
                    }
                    written(item, choices, out);
                }
                out.push(']');
            }
            Value::String(s) => written_string(s, pick(choices, 2) == 0, out),
            other => out.push_str(&other.to_string()),
        }
    }

    fn written_string(s: &str, escape_all: bool, out: &mut String) {
        if !escape_all {
            out.push_str(&serde_json::to_string(s).unwrap());
            return;
        }
        out.push('"');
        for unit in s.encode_utf16() {
            out.push_str(&format!("\\u{unit:04x}"));
        }
        out.push('"');
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            (-1e12f64..1e12).prop_map(Value::from),
            "[a-zé\"\\/\n\u{1}\u{1F600} ]{0,12}".prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map("[a-dB_é]{0,3}", inner, 0..6)
                    .prop_map(|map| Value::Object(map.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn canonical_text_equals_canonical_json_of_the_parsed_text(
            value in json_value(),
            choices in prop::collection::vec(any::<u8>(), 1..32),
        ) {
            let mut text = String::new();
            written(&value, &mut choices.into_iter().cycle(), &mut text);
            let parsed: Value = serde_json::from_str(&text).unwrap();
            let mut out = String::new();
            write_canonical_text(&text, &mut out).unwrap();
            prop_assert_eq!(out, canonical_json(&parsed), "{}", text);
        }
    }

    #[test]
    fn keys_sort_by_bytes_not_by_length() {
        let value = json!({"bb": 1, "a": 2, "B": 3, "é": 4});
        assert_eq!(canonical_json(&value), r#"{"B":3,"a":2,"bb":1,"é":4}"#);
    }

    #[test]
    fn recorded_at_has_six_fraction_digits_in_utc() {
        let at = DateTime::parse_from_rfc3339("2024-03-01T10:00:00+01:00")
            .map(|t| t.with_timezone(&Utc))
            .unwrap();
        assert_eq!(format_recorded_at(at), "2024-03-01T09:00:00.000000Z");
    }

    fn event(sequence: i64, previous_hash: Option<String>) -> StoredEvent {
        let mut e = StoredEvent {
            global_position: sequence,
            aggregate_type: "Beneficiary".into(),
            aggregate_id: "b".into(),
            sequence,
            event_type: "Sensitised".into(),
            event_version: "1.0".into(),
            payload: json!({"n": sequence}),
            metadata: json!({}),
            recorded_at: DateTime::UNIX_EPOCH,
            previous_hash,
            hash: String::new(),
        };
        e.hash = e.recomputed_hash();
        e
    }

    #[test]
    fn chain_detects_edit_gap_and_relink() {
        let first = event(1, None);
        let second = event(2, Some(first.hash.clone()));
        let third = event(3, Some(second.hash.clone()));
        assert!(verify_chain(&[first.clone(), second.clone(), third.clone()]).is_empty());

        let mut edited = second.clone();
        edited.payload = json!({"n": 99});
        assert_eq!(
            verify_chain(&[first.clone(), edited, third.clone()]),
            vec![ChainProblem::HashMismatch { sequence: 2 }]
        );

        let problems = verify_chain(&[first.clone(), third.clone()]);
        assert!(problems.contains(&ChainProblem::SequenceGap {
            expected: 2,
            found: 3
        }));
        assert!(problems.contains(&ChainProblem::BrokenLink { sequence: 3 }));
    }
}
