//! `masar export events` checked by the independent verifier, `tools/verify_export.py`, as an
//! auditor runs them: a clean export verifies against the operator's public key, and every
//! kind of tampering with the file is reported, naming the stream and sequence (or the seal)
//! concerned.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use masar::write::WriteSide;
use masar_domain::beneficiary::JourneyFact;
use masar_domain::ids::BeneficiaryId;
use masar_projections::testing::fresh_database;
use serde_json::Value;
use uuid::Uuid;

use crate::common::{identified, record, sensitised, set_up};
use crate::helpers::MASAR;

/// The verifier, from the repository's root.
fn verifier() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("tools")
        .join("verify_export.py")
}

/// The auditors' recomputation of the indicators, from the repository's root.
fn recomputer() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("tools")
        .join("recompute_indicators.py")
}

/// Whether `python3` with the `cryptography` package can run the verifier. In CI (`CI=true`)
/// it must; elsewhere the test says why it skips.
fn python_available() -> bool {
    let available = Command::new("python3")
        .args([
            "-c",
            "from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey",
        ])
        .output()
        .is_ok_and(|output| output.status.success());
    if !available {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but python3 with the cryptography package is not available: \
             pip install -r tools/requirements.txt"
        );
        eprintln!(
            "SKIPPED export_cli: python3 with the cryptography package is not \
             available (pip install -r tools/requirements.txt); the export is not checked by \
             tools/verify_export.py"
        );
    }
    available
}

/// Runs `masar` against the database `url`, signing seals with the key in `key_file`.
fn masar(url: &str, key_file: &Path, args: &[&str]) -> Output {
    Command::new(MASAR)
        .args(args)
        .env("DATABASE_URL", url)
        .env("MASAR_SEAL_KEY_FILE", key_file)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

/// `masar …`, which must succeed: its standard output.
#[track_caller]
fn masar_ok(url: &str, key_file: &Path, args: &[&str]) -> String {
    let output = masar(url, key_file, args);
    assert!(
        output.status.success(),
        "masar {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// The verifier's exit status and its standard output and error together.
fn verify(file: &Path, public_key: Option<&str>) -> (Option<i32>, String) {
    let mut command = Command::new("python3");
    command.arg(verifier()).arg(file);
    if let Some(key) = public_key {
        command.args(["--public-key", key]);
    }
    let output = command.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code(), text)
}

/// A new seal key file, readable by its owner only.
fn seal_key_file(dir: &Path) -> PathBuf {
    let output = Command::new(MASAR)
        .args(["keys", "generate"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let path = dir.join(format!("seal-{}.key", Uuid::new_v4()));
    std::fs::write(&path, &output.stdout).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

/// Skills written with everything the canonical encoding escapes or leaves alone.
fn skills_assessed() -> JourneyFact {
    JourneyFact::SkillsAssessed {
        skills: vec!["Soudure à l'arc".into(), "خياطة".into()],
        languages: vec!["ar".into(), "fr".into()],
        notes: Some("Parle \"couramment\"\tle darija / le français\\n".into()),
    }
}

/// The export's lines.
struct Export {
    lines: Vec<String>,
}

impl Export {
    fn read(path: &Path) -> Export {
        let text = std::fs::read_to_string(path).unwrap();
        assert!(text.ends_with('\n'));
        Export {
            lines: text.lines().map(str::to_owned).collect(),
        }
    }

    fn parsed(&self, index: usize) -> Value {
        serde_json::from_str(&self.lines[index]).unwrap()
    }

    /// The index of the line of `stream`'s event `sequence`.
    fn event(&self, stream: &str, sequence: i64) -> usize {
        (0..self.lines.len())
            .find(|&i| {
                let line = self.parsed(i);
                line["record"] == "event"
                    && line["aggregate_id"] == stream
                    && line["sequence"] == sequence
            })
            .unwrap_or_else(|| panic!("no event {sequence} of {stream}"))
    }

    /// The last sequence of `stream` at or below `position`.
    fn head(&self, stream: &str, position: i64) -> i64 {
        (0..self.lines.len())
            .map(|i| self.parsed(i))
            .filter(|l| l["record"] == "event" && l["aggregate_id"] == stream)
            .filter(|l| l["global_position"].as_i64().unwrap() <= position)
            .map(|l| l["sequence"].as_i64().unwrap())
            .max()
            .unwrap()
    }

    /// The indexes of the seal lines.
    fn seals(&self) -> Vec<usize> {
        (0..self.lines.len())
            .filter(|&i| self.parsed(i)["record"] == "seal")
            .collect()
    }

    /// Writes the lines to `path`, with the trailer's counts recomputed as a careful
    /// tamperer would (unless the trailer was removed).
    fn write_retrailed(&self, path: &Path) -> PathBuf {
        let mut lines = self.lines.clone();
        let count = |record: &str| {
            lines
                .iter()
                .filter(|l| serde_json::from_str::<Value>(l).unwrap()["record"] == record)
                .count()
        };
        let (events, seals) = (count("event"), count("seal"));
        if let Some(last) = lines.last_mut() {
            if last.contains("\"record\":\"end\"") {
                *last = format!(r#"{{"record":"end","events":{events},"seals":{seals}}}"#);
            }
        }
        std::fs::write(path, lines.join("\n") + "\n").unwrap();
        path.to_owned()
    }
}

/// Asserts that the verifier fails and that one of its lines has every one of `needles`.
#[track_caller]
fn assert_reported(file: &Path, key: &str, needles: &[&str]) -> String {
    let (code, output) = verify(file, Some(key));
    assert_eq!(code, Some(1), "{output}");
    assert!(
        output.contains("FAILED"),
        "no FAILED summary in the output:\n{output}"
    );
    assert!(
        output
            .lines()
            .any(|line| needles.iter().all(|needle| line.contains(needle))),
        "no line with {needles:?} in the output:\n{output}"
    );
    output
}

#[tokio::test]
async fn an_export_verifies_independently_and_every_tampering_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let db = fresh_database().await;
    let key_file = seal_key_file(dir.path());
    let write = WriteSide::new(db.pool.clone()).await.unwrap();
    set_up(&write).await;

    // a goes on after both seals; b stops before the first; c is removed whole below; d
    // starts after the first seal.
    let [a, b, c, d] = [(); 4].map(|()| BeneficiaryId::new(Uuid::new_v4()));
    for id in [a, b, c] {
        record(&write, id, 0, identified()).await;
        record(&write, id, 1, sensitised("droits et démarches")).await;
    }
    record(&write, a, 2, skills_assessed()).await;
    record(&write, b, 2, sensitised("emploi — الشغل")).await;
    masar_ok(&db.url, &key_file, &["seal"]);

    record(&write, a, 3, sensitised("santé")).await;
    record(&write, d, 0, identified()).await;
    record(&write, c, 4, skills_assessed()).await;
    masar_ok(&db.url, &key_file, &["seal"]);
    // Recorded after the last seal: covered by no seal, still chained.
    record(&write, a, 5, sensitised("logement")).await;

    let public_key = masar_ok(&db.url, &key_file, &["seal", "--public-key"])
        .trim()
        .to_owned();
    assert_eq!(public_key.len(), 64, "{public_key}");

    let file = dir.path().join("export.jsonl");
    let file_arg = file.to_str().unwrap();
    masar_ok(
        &db.url,
        &key_file,
        &["export", "events", "--output", file_arg],
    );
    // Only the export and the key: no temporary file left beside it.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    let export = Export::read(&file);
    let header = export.parsed(0);
    assert_eq!(header["format"], "masar-events");
    assert_eq!(header["after"], 0);
    let seals = export.seals();
    assert_eq!(seals.len(), 2);
    let end = export.parsed(export.lines.len() - 1);
    // 3 set-up events, 3 × 2, 2, 3, 1 journey events.
    assert_eq!(
        end,
        serde_json::json!({"record": "end", "events": 15, "seals": 2})
    );

    // The same lines on standard output, but for the header's time.
    let stdout = masar_ok(&db.url, &key_file, &["export", "events"]);
    assert_eq!(
        stdout.lines().skip(1).collect::<Vec<_>>(),
        export
            .lines
            .iter()
            .skip(1)
            .map(String::as_str)
            .collect::<Vec<_>>()
    );

    // The rest is the independent verifier's.
    if !python_available() {
        return;
    }
    let (code, output) = verify(&file, Some(&public_key));
    assert_eq!(code, Some(0), "{output}");
    assert!(
        output.starts_with("OK: 15 events in 7 streams and 2 seals"),
        "{output}"
    );
    assert!(output.contains("events/s"), "{output}");
    let (code, output) = verify(&file, None);
    assert_eq!(code, Some(0), "{output}");
    assert!(
        output.contains("proves nothing about who signed"),
        "{output}"
    );

    let (a, b, c) = (a.to_string(), b.to_string(), c.to_string());
    let first_seal = export.parsed(seals[0])["position"].as_i64().unwrap();
    let second_seal = export.parsed(seals[1])["position"].as_i64().unwrap();
    let copy =
        |name: &str, lines: Vec<String>| Export { lines }.write_retrailed(&dir.path().join(name));

    // A payload edited: its hash no longer matches.
    let mut lines = export.lines.clone();
    let index = export.event(&b, 2);
    let mut event = export.parsed(index);
    event["payload"]["fact"]["Sensitised"]["topic"] = "autre chose".into();
    lines[index] = event.to_string();
    let edited = copy("edited.jsonl", lines);
    assert_reported(
        &edited,
        &public_key,
        &["HASH_MISMATCH", &format!("Beneficiary {b} sequence 2")],
    );

    // An event removed from the middle of a stream.
    let mut lines = export.lines.clone();
    lines.remove(export.event(&a, 2));
    let removed = copy("removed.jsonl", lines);
    assert_reported(
        &removed,
        &public_key,
        &["SEQUENCE_GAP", &format!("Beneficiary {a} sequence 2")],
    );

    // The stream's last event before a seal removed: where the stream goes on, the gap names
    // it; where it does not, only the seals show it, at their positions.
    let mut lines = export.lines.clone();
    let head = export.head(&a, first_seal);
    lines.remove(export.event(&a, head));
    let cut = copy("cut-a.jsonl", lines);
    assert_reported(
        &cut,
        &public_key,
        &["SEQUENCE_GAP", &format!("Beneficiary {a} sequence {head}")],
    );
    assert_reported(
        &cut,
        &public_key,
        &["SEAL_DIGEST", &format!("seal at position {first_seal}")],
    );
    let mut lines = export.lines.clone();
    lines.remove(export.event(&b, 3));
    let cut = copy("cut-b.jsonl", lines);
    let output = assert_reported(
        &cut,
        &public_key,
        &["SEAL_DIGEST", &format!("seal at position {first_seal}")],
    );
    assert!(
        output.contains(&format!("seal at position {second_seal}")),
        "{output}"
    );
    assert!(output.contains("last events were removed"), "{output}");

    // A whole stream removed.
    let lines = export
        .lines
        .iter()
        .filter(|line| !line.contains(&c))
        .cloned()
        .collect();
    let deleted = copy("deleted.jsonl", lines);
    assert_reported(
        &deleted,
        &public_key,
        &[
            "SEAL_DIGEST",
            &format!("seal at position {first_seal}"),
            "1 stream(s) deleted",
        ],
    );

    // The trailer removed: the file was cut short.
    let mut lines = export.lines.clone();
    lines.pop();
    let untrailed = copy("untrailed.jsonl", lines);
    assert_reported(&untrailed, &public_key, &["TRAILER", "cut short"]);

    // A seal's signature changed.
    let mut lines = export.lines.clone();
    let mut seal = export.parsed(seals[1]);
    let signature = seal["signature"].as_str().unwrap().to_owned();
    let flipped = if signature.starts_with('0') { "1" } else { "0" };
    seal["signature"] = format!("{flipped}{}", &signature[1..]).into();
    lines[seals[1]] = seal.to_string();
    let forged = copy("forged.jsonl", lines);
    assert_reported(
        &forged,
        &public_key,
        &["SEAL_SIGNATURE", &format!("seal at position {second_seal}")],
    );

    // The wrong public key: every seal is reported.
    let other_key = masar_ok(
        &db.url,
        &seal_key_file(dir.path()),
        &["seal", "--public-key"],
    );
    let output = assert_reported(&file, other_key.trim(), &["UNTRUSTED_KEY", &public_key]);
    assert_eq!(output.matches("UNTRUSTED_KEY").count(), 2, "{output}");

    // A partial export verifies: chains continued, the second seal's signature checked.
    let partial = dir.path().join("partial.jsonl");
    let after = first_seal.to_string();
    masar_ok(
        &db.url,
        &key_file,
        &[
            "export",
            "events",
            "--output",
            partial.to_str().unwrap(),
            "--after",
            &after,
        ],
    );
    let partial_export = Export::read(&partial);
    assert_eq!(partial_export.parsed(0)["after"], first_seal);
    assert_eq!(partial_export.seals().len(), 1);
    let (code, output) = verify(&partial, Some(&public_key));
    assert_eq!(code, Some(0), "{output}");
    assert!(output.contains("partial export"), "{output}");
    // a and c go on from before the start; d starts after it.
    assert!(
        output.contains("first event of 2 stream(s) continues"),
        "{output}"
    );
}

#[test]
fn an_export_that_fails_leaves_no_file_and_bad_arguments_are_explained() {
    let dir = tempfile::tempdir().unwrap();
    let unused_key = dir.path().join("unused.key");

    // The database cannot be reached: the export fails and leaves nothing behind.
    let target = dir.path().join("export.jsonl");
    let output = masar(
        "postgres://nobody@127.0.0.1:1/none",
        &unused_key,
        &["export", "events", "--output", target.to_str().unwrap()],
    );
    assert!(!output.status.success());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);

    // A directory that does not exist: refused before the database is opened.
    let missing = dir.path().join("missing").join("export.jsonl");
    let output = masar(
        "postgres://unused.invalid/masar",
        &unused_key,
        &["export", "events", "--output", missing.to_str().unwrap()],
    );
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot write the export"), "{stderr}");
    assert!(stderr.contains("does not exist"), "{stderr}");

    // A negative position.
    let output = masar(
        "postgres://unused.invalid/masar",
        &unused_key,
        &["export", "events", "--after", "-3"],
    );
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("0 or more, not -3"), "{stderr}");
}

/// `tools/recompute_indicators.py FILE --programme AMUDDU-RSK --from DAY --to DAY --json`:
/// its exit status and its standard output and error together.
fn recompute(file: &Path, from: &str, to: &str) -> (Option<i32>, String) {
    let output = Command::new("python3")
        .arg(recomputer())
        .arg(file)
        .args([
            "--programme",
            "AMUDDU-RSK",
            "--from",
            from,
            "--to",
            to,
            "--json",
        ])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code(), text)
}

/// The SENSITISED count the recomputation finds from `from` to `to`.
#[track_caller]
fn sensitised_between(file: &Path, from: &str, to: &str) -> i64 {
    let (code, output) = recompute(file, from, to);
    assert_eq!(code, Some(0), "{output}");
    let report: Value = serde_json::from_str(&output).unwrap();
    report["indicators"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["code"] == "SENSITISED")
        .unwrap()["value"]
        .as_i64()
        .unwrap()
}

/// A sealed export of a log written before leap seconds were refused: beneficiary `leap` is
/// identified on 2024-03-01 and sensitised at 2024-06-30T23:59:60Z, an event inserted into
/// the table directly (the API now refuses it), through the same hash-chain trigger. Returns
/// the export, the seal's public key and the database's URL.
async fn export_with_a_leap_second(dir: &Path) -> (PathBuf, String, String) {
    let db = fresh_database().await;
    let key_file = seal_key_file(dir);
    let write = WriteSide::new(db.pool.clone()).await.unwrap();
    set_up(&write).await;
    let [model, leap] = [(); 2].map(|()| BeneficiaryId::new(Uuid::new_v4()));
    record(&write, model, 0, identified()).await;
    record(&write, model, 1, sensitised("droits et démarches")).await;
    record(&write, leap, 0, identified()).await;
    let inserted = sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, \
                             payload, metadata) \
         SELECT aggregate_type, $1, 2, event_type, event_version, \
                jsonb_set(jsonb_set(payload::jsonb, '{occurred_at}', to_jsonb($2::text)), \
                          '{event_id}', to_jsonb($3::text))::json, \
                jsonb_set(jsonb_set(metadata::jsonb, '{occurred_at}', to_jsonb($2::text)), \
                          '{event_id}', to_jsonb($3::text))::json \
         FROM events WHERE aggregate_id = $4 AND sequence = 2",
    )
    .bind(leap.to_string())
    .bind("2024-06-30T23:59:60Z")
    .bind(Uuid::new_v4().to_string())
    .bind(model.to_string())
    .execute(&db.pool)
    .await
    .unwrap();
    assert_eq!(inserted.rows_affected(), 1);
    masar_ok(&db.url, &key_file, &["seal"]);
    let public_key = masar_ok(&db.url, &key_file, &["seal", "--public-key"])
        .trim()
        .to_owned();
    let file = dir.join("export.jsonl");
    masar_ok(
        &db.url,
        &key_file,
        &["export", "events", "--output", file.to_str().unwrap()],
    );
    let export = Export::read(&file);
    let line = &export.lines[export.event(&leap.to_string(), 2)];
    assert!(line.contains("2024-06-30T23:59:60Z"), "{line}");
    (file, public_key, db.url.clone())
}

#[tokio::test]
async fn an_event_dated_at_a_leap_second_in_an_old_log_is_read_by_both_tools() {
    let dir = tempfile::tempdir().unwrap();
    let (file, public_key, url) = export_with_a_leap_second(dir.path()).await;
    // Masar itself still verifies that log.
    masar_ok(&url, &dir.path().join("unused.key"), &["verify"]);
    if !python_available() {
        return;
    }
    let (code, output) = verify(&file, Some(&public_key));
    assert_eq!(code, Some(0), "{output}");
    assert!(output.starts_with("OK: 7 events"), "{output}");

    // The leap second is the last moment of 2024-06-30, as Masar dates it.
    assert_eq!(sensitised_between(&file, "2024-06-30", "2024-06-30"), 1);
    assert_eq!(sensitised_between(&file, "2024-07-01", "2024-07-31"), 0);
    assert_eq!(sensitised_between(&file, "2024-03-01", "2024-06-29"), 1);
}

#[tokio::test]
async fn both_tools_name_the_line_they_cannot_read() {
    let dir = tempfile::tempdir().unwrap();
    let (file, public_key, _) = export_with_a_leap_second(dir.path()).await;
    if !python_available() {
        return;
    }
    let export = Export::read(&file);
    // A journey event's line.
    let index = (0..export.lines.len())
        .find(|&i| export.parsed(i)["aggregate_type"] == "Beneficiary")
        .unwrap();
    let mut event = export.parsed(index);
    let number = format!("line {}:", index + 1);
    let corrupt = |name: &str, line: String| {
        let mut lines = export.lines.clone();
        lines[index] = line;
        let path = dir.path().join(name);
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        path
    };
    let no_traceback = |output: &str| {
        assert!(!output.contains("Traceback"), "{output}");
    };

    // Cut short: not JSON.
    let cut = corrupt("cut.jsonl", export.lines[index][..40].to_owned());
    let (code, output) = verify(&cut, Some(&public_key));
    assert_eq!(code, Some(1), "{output}");
    assert!(
        output.contains(&format!("{number} MALFORMED_LINE")),
        "{output}"
    );
    let (code, output) = recompute(&cut, "2024-01-01", "2024-12-31");
    assert_eq!(code, Some(2), "{output}");
    assert!(output.contains(&number), "{output}");
    no_traceback(&output);

    // Nested deeper than a JSON reader recurses.
    let deep = corrupt(
        "deep.jsonl",
        format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)),
    );
    for (code, output) in [
        verify(&deep, Some(&public_key)),
        recompute(&deep, "2024-01-01", "2024-12-31"),
    ] {
        assert!(matches!(code, Some(1 | 2)), "{output}");
        assert!(output.contains(&number), "{output}");
        no_traceback(&output);
    }

    // Valid JSON, but a payload that is not an object, or a date that does not exist.
    let mut shapeless = event.clone();
    shapeless["payload"] = "nothing".into();
    event["payload"]["occurred_at"] = "2024-02-30T10:00:00Z".into();
    for (name, line, reason) in [
        ("shapeless.jsonl", shapeless, "payload"),
        ("no-such-day.jsonl", event, "occurred_at"),
    ] {
        let path = corrupt(name, line.to_string());
        let (code, output) = recompute(&path, "2024-01-01", "2024-12-31");
        assert_eq!(code, Some(2), "{output}");
        assert!(output.contains(&number), "{output}");
        assert!(output.contains(reason), "{output}");
        no_traceback(&output);
        // The verifier reports the altered event and goes on.
        let (code, output) = verify(&path, Some(&public_key));
        assert_eq!(code, Some(1), "{output}");
        assert!(output.contains(&number), "{output}");
        no_traceback(&output);
    }
}
