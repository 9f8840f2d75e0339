//! The raw event log as stored: rows of the `events` table and the canonical encoding of
//! their hash chain (see `docs/event-encoding.md`), recomputed here without trusting the
//! database.

use chrono::{DateTime, SecondsFormat, Utc};
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
        out.push('[');
        match &self.previous_hash {
            Some(hash) => write_string(hash, &mut out),
            None => out.push_str("null"),
        }
        out.push(',');
        write_string(&self.aggregate_type, &mut out);
        out.push(',');
        write_string(&self.aggregate_id, &mut out);
        out.push(',');
        out.push_str(&self.sequence.to_string());
        out.push(',');
        write_string(&self.event_type, &mut out);
        out.push(',');
        write_string(&self.event_version, &mut out);
        out.push(',');
        write_canonical(&self.payload, &mut out);
        out.push(',');
        write_canonical(&self.metadata, &mut out);
        out.push(',');
        write_string(&format_recorded_at(self.recorded_at), &mut out);
        out.push(']');
        out
    }

    /// The hash recomputed from the row's fields (including its stored `previous_hash`).
    pub fn recomputed_hash(&self) -> String {
        sha256_hex(self.canonical_encoding().as_bytes())
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

fn write_string(s: &str, out: &mut String) {
    out.push('"');
    if !s.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20) {
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
