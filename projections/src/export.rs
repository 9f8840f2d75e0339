//! The raw event log as JSON Lines, with hashes and seals, for independent verification:
//! the format of `docs/event-encoding.md`, "Export format".
//!
//! The export is read from one consistent snapshot (a repeatable-read, read-only transaction
//! in which both `events` and `seals` are read) as a single stream of rows in position order,
//! so memory stays constant whatever the size of the log.

use std::io::{self, BufWriter, Write};

use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use serde::Serialize;
use serde_json::Value;
use sqlx::{PgPool, Row};

use crate::event_log::{self, format_recorded_at, StoredEvent};

/// The header's `format`.
pub const FORMAT: &str = "masar-events";

/// The header's `version`: the version of the export format this module writes.
pub const VERSION: i64 = 1;

/// How often (in events) the progress callback is called.
const PROGRESS_EVERY: u64 = 1_000;

/// Buffer between the rows and the writer.
const BUFFER_BYTES: usize = 256 * 1024;

/// One row of the `seals` table, as exported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSeal {
    /// Every event with `global_position <= position` is covered.
    pub position: i64,
    /// How many stream heads the digest covers.
    pub streams: i64,
    /// Lower-case hex SHA-256 of the seal text.
    pub digest: String,
    /// Ed25519 signature of the digest's 32 bytes, lower-case hex.
    pub signature: String,
    /// The signer's Ed25519 public key, lower-case hex.
    pub public_key: String,
    /// When the seal was signed.
    pub sealed_at: DateTime<Utc>,
}

/// What an export reports as it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExportProgress {
    /// Event lines written so far.
    pub written: u64,
    /// Event lines to write.
    pub total: u64,
}

/// What an export wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExportSummary {
    /// The position the export starts after (0 for the whole log).
    pub after: i64,
    /// The highest `global_position` in the export (0 when it holds no events).
    pub head: i64,
    /// Event lines written.
    pub events: u64,
    /// Seal lines written.
    pub seals: u64,
}

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The export was asked to start after a negative position.
    #[error("an export starts after a global position of 0 or more, not {0}")]
    NegativeAfter(i64),
    /// The database could not be read.
    #[error("cannot read the event log: {0}")]
    Database(#[from] sqlx::Error),
    /// The lines could not be written.
    #[error("cannot write the export: {0}")]
    Write(#[from] io::Error),
}

/// Writes every event and seal after `after` to `out` as JSON Lines, between a header and a
/// trailer, from one consistent snapshot of the database.
///
/// Events come in increasing `global_position`; each seal is placed after the last event at
/// or below its position. The rows are read as one stream (events and seals merged by
/// position in the database), so memory stays constant. `out` is buffered here and flushed at
/// the end. `progress` is called every thousand events and at the end.
pub async fn export_events<W: Write>(
    pool: &PgPool,
    after: i64,
    out: W,
    progress: &(dyn Fn(ExportProgress) + Send + Sync),
) -> Result<ExportSummary, ExportError> {
    if after < 0 {
        return Err(ExportError::NegativeAfter(after));
    }
    let mut tx = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await?;
    let (total, head, exported_at): (i64, i64, DateTime<Utc>) = sqlx::query_as(
        "SELECT count(*), coalesce(max(global_position), 0)::bigint, now() \
         FROM events WHERE global_position > $1",
    )
    .bind(after)
    .fetch_one(&mut *tx)
    .await?;
    let total = u64::try_from(total).unwrap_or(0);
    progress(ExportProgress { written: 0, total });

    let mut writer = ExportWriter::start(
        BufWriter::with_capacity(BUFFER_BYTES, out),
        after,
        head,
        exported_at,
    )?;
    {
        let sql = merged_log_query();
        let mut rows = sqlx::query(&sql).bind(after).fetch(&mut *tx);
        while let Some(row) = rows.try_next().await? {
            let record: String = row.try_get("record")?;
            if record == "seal" {
                writer.seal(seal_from_row(&row)?)?;
            } else {
                writer.event(&event_log::from_row(&row)?)?;
                if writer.events.is_multiple_of(PROGRESS_EVERY) {
                    progress(ExportProgress {
                        written: writer.events,
                        total: total.max(writer.events),
                    });
                }
            }
        }
    }
    tx.commit().await?;
    let (events, seals) = writer.finish()?;
    progress(ExportProgress {
        written: events,
        total: total.max(events),
    });
    Ok(ExportSummary {
        after,
        head,
        events,
        seals,
    })
}

/// One ordered stream of both tables after `$1`: events (with [`event_log::SELECT_COLUMNS`])
/// and seals, told apart by `record`, merged by `position`. A seal and an event at the same
/// position may come in either order ([`ExportWriter`] puts the event first).
///
/// The union is a subquery filtered from outside so that PostgreSQL flattens it and merges
/// the two tables' position indexes (a Merge Append) instead of sorting the whole log.
fn merged_log_query() -> String {
    let columns = event_log::SELECT_COLUMNS;
    // A seal row has no event columns: one NULL each, typed by the union.
    let no_event = vec!["NULL"; columns.split(',').count()].join(", ");
    format!(
        "SELECT * FROM ( \
             SELECT 'event' AS record, global_position AS position, {columns}, \
                    NULL::bigint AS streams, NULL::text AS digest, NULL::text AS signature, \
                    NULL::text AS public_key, NULL::timestamptz AS sealed_at \
             FROM events \
             UNION ALL \
             SELECT 'seal', position, {no_event}, \
                    streams, digest, signature, public_key, sealed_at \
             FROM seals \
         ) AS log \
         WHERE position > $1 \
         ORDER BY position"
    )
}

/// A row of `seals` selected with its own column names.
fn seal_from_row(row: &sqlx::postgres::PgRow) -> Result<StoredSeal, sqlx::Error> {
    Ok(StoredSeal {
        position: row.try_get("position")?,
        streams: row.try_get("streams")?,
        digest: row.try_get("digest")?,
        signature: row.try_get("signature")?,
        public_key: row.try_get("public_key")?,
        sealed_at: row.try_get("sealed_at")?,
    })
}

/// The first line.
#[derive(Debug, Serialize)]
struct HeaderLine {
    record: &'static str,
    format: &'static str,
    version: i64,
    after: i64,
    head: i64,
    exported_at: String,
}

/// An event line.
#[derive(Debug, Serialize)]
struct EventLine<'a> {
    record: &'static str,
    global_position: i64,
    aggregate_type: &'a str,
    aggregate_id: &'a str,
    sequence: i64,
    event_type: &'a str,
    event_version: &'a str,
    payload: &'a Value,
    metadata: &'a Value,
    recorded_at: String,
    previous_hash: Option<&'a str>,
    hash: &'a str,
}

/// A seal line.
#[derive(Debug, Serialize)]
struct SealLine<'a> {
    record: &'static str,
    position: i64,
    streams: i64,
    digest: &'a str,
    signature: &'a str,
    public_key: &'a str,
    sealed_at: String,
}

/// The last line.
#[derive(Debug, Serialize)]
struct EndLine {
    record: &'static str,
    events: u64,
    seals: u64,
}

/// Writes the lines in the export's order: the header, events and seals merged by position
/// (a seal after every event at or below its position), the trailer.
///
/// Rows must come in position order, except that a seal may come before an event at its own
/// position: the seal is held back until an event beyond it, the next seal or the end.
#[derive(Debug)]
struct ExportWriter<W: Write> {
    out: W,
    held_seal: Option<StoredSeal>,
    events: u64,
    seals: u64,
}

impl<W: Write> ExportWriter<W> {
    /// Writes the header.
    fn start(
        mut out: W,
        after: i64,
        head: i64,
        exported_at: DateTime<Utc>,
    ) -> io::Result<ExportWriter<W>> {
        write_line(
            &mut out,
            &HeaderLine {
                record: "header",
                format: FORMAT,
                version: VERSION,
                after,
                head,
                exported_at: format_recorded_at(exported_at),
            },
        )?;
        Ok(ExportWriter {
            out,
            held_seal: None,
            events: 0,
            seals: 0,
        })
    }

    /// Writes `event`, after the held seal if the event lies beyond it.
    fn event(&mut self, event: &StoredEvent) -> io::Result<()> {
        if self
            .held_seal
            .as_ref()
            .is_some_and(|seal| seal.position < event.global_position)
        {
            self.release_seal()?;
        }
        write_line(
            &mut self.out,
            &EventLine {
                record: "event",
                global_position: event.global_position,
                aggregate_type: &event.aggregate_type,
                aggregate_id: &event.aggregate_id,
                sequence: event.sequence,
                event_type: &event.event_type,
                event_version: &event.event_version,
                payload: &event.payload,
                metadata: &event.metadata,
                recorded_at: format_recorded_at(event.recorded_at),
                previous_hash: event.previous_hash.as_deref(),
                hash: &event.hash,
            },
        )?;
        self.events += 1;
        Ok(())
    }

    /// Holds `seal` until the events at its position are written.
    fn seal(&mut self, seal: StoredSeal) -> io::Result<()> {
        self.release_seal()?;
        self.held_seal = Some(seal);
        Ok(())
    }

    /// Writes the held seal, if any.
    fn release_seal(&mut self) -> io::Result<()> {
        if let Some(seal) = self.held_seal.take() {
            write_line(
                &mut self.out,
                &SealLine {
                    record: "seal",
                    position: seal.position,
                    streams: seal.streams,
                    digest: &seal.digest,
                    signature: &seal.signature,
                    public_key: &seal.public_key,
                    sealed_at: format_recorded_at(seal.sealed_at),
                },
            )?;
            self.seals += 1;
        }
        Ok(())
    }

    /// Writes the held seal and the trailer, flushes, and returns the numbers of event and
    /// seal lines written.
    fn finish(mut self) -> io::Result<(u64, u64)> {
        self.release_seal()?;
        write_line(
            &mut self.out,
            &EndLine {
                record: "end",
                events: self.events,
                seals: self.seals,
            },
        )?;
        self.out.flush()?;
        Ok((self.events, self.seals))
    }
}

/// `value` as one line of JSON.
fn write_line<W: Write, T: Serialize>(out: &mut W, value: &T) -> io::Result<()> {
    serde_json::to_writer(&mut *out, value).map_err(io::Error::from)?;
    out.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(position: i64, id: &str, sequence: i64, previous: Option<&str>) -> StoredEvent {
        let mut event = StoredEvent {
            global_position: position,
            aggregate_type: "Beneficiary".into(),
            aggregate_id: id.into(),
            sequence,
            event_type: "Sensitised".into(),
            event_version: "1.0".into(),
            payload: json!({"fact": {"Sensitised": {"topic": "droits \"é\"\n"}}}),
            metadata: json!({"event_id": format!("e-{position}"), "organisation": "REMESS"}),
            recorded_at: DateTime::UNIX_EPOCH + chrono::Duration::microseconds(120_000),
            previous_hash: previous.map(str::to_owned),
            hash: String::new(),
        };
        event.hash = event.recomputed_hash();
        event
    }

    fn seal(position: i64) -> StoredSeal {
        StoredSeal {
            position,
            streams: 1,
            digest: "d".repeat(64),
            signature: "5".repeat(128),
            public_key: "k".repeat(64),
            sealed_at: DateTime::UNIX_EPOCH,
        }
    }

    enum Row {
        Event(StoredEvent),
        Seal(StoredSeal),
    }

    /// The lines written for `rows`, parsed.
    fn export(after: i64, head: i64, rows: Vec<Row>) -> Vec<Value> {
        let mut out = Vec::new();
        let mut writer = ExportWriter::start(&mut out, after, head, DateTime::UNIX_EPOCH).unwrap();
        for row in rows {
            match row {
                Row::Event(event) => writer.event(&event).unwrap(),
                Row::Seal(seal) => writer.seal(seal).unwrap(),
            }
        }
        writer.finish().unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.ends_with('\n'));
        text.lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }

    /// `record` of each line, with its position for events and seals.
    fn shape(lines: &[Value]) -> Vec<String> {
        lines
            .iter()
            .map(|line| match line["record"].as_str().unwrap() {
                "event" => format!("event {}", line["global_position"]),
                "seal" => format!("seal {}", line["position"]),
                other => other.to_owned(),
            })
            .collect()
    }

    #[test]
    fn header_event_and_trailer_lines_carry_every_documented_member() {
        let first = event(1, "b", 1, None);
        let lines = export(0, 1, vec![Row::Event(first.clone())]);
        assert_eq!(
            lines[0],
            json!({"record": "header", "format": "masar-events", "version": 1, "after": 0,
                   "head": 1, "exported_at": "1970-01-01T00:00:00.000000Z"})
        );
        assert_eq!(
            lines[1],
            json!({"record": "event", "global_position": 1, "aggregate_type": "Beneficiary",
                   "aggregate_id": "b", "sequence": 1, "event_type": "Sensitised",
                   "event_version": "1.0", "payload": first.payload, "metadata": first.metadata,
                   "recorded_at": "1970-01-01T00:00:00.120000Z", "previous_hash": null,
                   "hash": first.hash})
        );
        assert_eq!(lines[2], json!({"record": "end", "events": 1, "seals": 0}));
        assert_eq!(lines.len(), 3);
    }

    #[test]
    fn an_event_line_recomputes_to_its_hash_from_the_parsed_values() {
        let first = event(1, "b", 1, None);
        let second = event(2, "b", 2, Some(&first.hash));
        let lines = export(0, 2, vec![Row::Event(first), Row::Event(second.clone())]);
        let line = &lines[2];
        let fields = json!([
            line["previous_hash"],
            line["aggregate_type"],
            line["aggregate_id"],
            line["sequence"],
            line["event_type"],
            line["event_version"],
            line["payload"],
            line["metadata"],
            line["recorded_at"]
        ]);
        assert_eq!(
            event_log::sha256_hex(event_log::canonical_json(&fields).as_bytes()),
            second.hash
        );
        assert_eq!(line["previous_hash"], json!(lines[1]["hash"]));
    }

    #[test]
    fn a_seal_line_is_placed_after_the_last_event_at_or_below_its_position() {
        // As the database may merge them: the seal at 2 before the event at 2.
        let lines = export(
            0,
            5,
            vec![
                Row::Event(event(1, "a", 1, None)),
                Row::Seal(seal(2)),
                Row::Event(event(2, "b", 1, None)),
                Row::Event(event(5, "c", 1, None)),
            ],
        );
        assert_eq!(
            shape(&lines),
            ["header", "event 1", "event 2", "seal 2", "event 5", "end"]
        );
        assert_eq!(lines[3]["streams"], 1);
        assert_eq!(lines[3]["digest"], "d".repeat(64));
        assert_eq!(lines[3]["signature"], "5".repeat(128));
        assert_eq!(lines[3]["sealed_at"], "1970-01-01T00:00:00.000000Z");
        assert_eq!(lines[5], json!({"record": "end", "events": 3, "seals": 1}));
    }

    #[test]
    fn a_seal_between_positions_and_consecutive_seals_keep_position_order() {
        // Positions 3 and 4 were never used (rolled back): the seal at 4 follows event 2.
        let lines = export(
            0,
            6,
            vec![
                Row::Event(event(2, "a", 1, None)),
                Row::Seal(seal(4)),
                Row::Seal(seal(5)),
                Row::Event(event(6, "a", 2, None)),
                Row::Seal(seal(6)),
            ],
        );
        assert_eq!(
            shape(&lines),
            ["header", "event 2", "seal 4", "seal 5", "event 6", "seal 6", "end"]
        );
        assert_eq!(lines[6], json!({"record": "end", "events": 2, "seals": 3}));
    }

    #[test]
    fn an_empty_or_partial_export_has_its_header_and_trailer() {
        let lines = export(7, 0, vec![]);
        assert_eq!(shape(&lines), ["header", "end"]);
        assert_eq!(lines[0]["after"], 7);
        assert_eq!(lines[0]["head"], 0);
        assert_eq!(lines[1], json!({"record": "end", "events": 0, "seals": 0}));
    }

    #[tokio::test]
    async fn the_database_export_merges_events_and_seals_from_one_snapshot() {
        let db = crate::testing::fresh_database().await;
        for (id, sequence) in [("a", 1), ("b", 1), ("a", 2)] {
            sqlx::query(
                "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, \
                 event_version, payload, metadata) \
                 VALUES ('Beneficiary', $1, $2, 'Sensitised', '1.0', '{\"n\": 1}', '{}')",
            )
            .bind(id)
            .bind(sequence)
            .execute(&db.pool)
            .await
            .unwrap();
        }
        sqlx::query(
            "INSERT INTO seals (position, streams, digest, signature, public_key) \
             VALUES (2, 2, $1, $2, $3)",
        )
        .bind("d".repeat(64))
        .bind("5".repeat(128))
        .bind("a".repeat(64))
        .execute(&db.pool)
        .await
        .unwrap();
        let positions: Vec<i64> =
            sqlx::query_scalar("SELECT global_position FROM events ORDER BY global_position")
                .fetch_all(&db.pool)
                .await
                .unwrap();
        assert_eq!(positions, [1, 2, 3]);

        let calls = std::sync::Mutex::new(Vec::new());
        let mut out = Vec::new();
        let summary = export_events(&db.pool, 0, &mut out, &|p| {
            calls.lock().unwrap().push(p);
        })
        .await
        .unwrap();
        assert_eq!(
            summary,
            ExportSummary {
                after: 0,
                head: positions[2],
                events: 3,
                seals: 1
            }
        );
        let last = calls.lock().unwrap().last().copied().unwrap();
        assert_eq!(
            last,
            ExportProgress {
                written: 3,
                total: 3
            }
        );
        let lines: Vec<Value> = String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        assert_eq!(
            shape(&lines),
            [
                "header".to_owned(),
                format!("event {}", positions[0]),
                format!("event {}", positions[1]),
                "seal 2".to_owned(),
                format!("event {}", positions[2]),
                "end".to_owned(),
            ]
        );
        let stored = event_log::read_log(&db.pool, 0, 10).await.unwrap();
        assert_eq!(lines[4]["hash"], stored[2].hash);
        assert_eq!(lines[4]["previous_hash"], stored[0].hash);
        assert_eq!(
            lines[4]["recorded_at"],
            format_recorded_at(stored[2].recorded_at)
        );

        let mut out = Vec::new();
        let partial = export_events(&db.pool, positions[1], &mut out, &|_| {})
            .await
            .unwrap();
        assert_eq!((partial.events, partial.seals), (1, 0));
        let error = export_events(&db.pool, -1, Vec::new(), &|_| {}).await;
        assert!(matches!(error, Err(ExportError::NegativeAfter(-1))));
    }

    #[test]
    fn a_failing_writer_is_an_error_not_a_panic() {
        #[derive(Debug)]
        struct Full;
        impl Write for Full {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::new(io::ErrorKind::StorageFull, "disk full"))
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let error = ExportWriter::start(Full, 0, 0, DateTime::UNIX_EPOCH).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::StorageFull);
    }
}
