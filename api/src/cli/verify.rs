//! `masar verify [--projections] [--json]`: recompute every stream's hash chain and report each
//! problem; with `--projections`, also rebuild every projection into a scratch table and
//! compare it with the live one (`masar_projections::compare`).

use std::time::Instant;

use masar_projections::compare::{self, CompareProgress, ProjectionComparison};
use masar_projections::rebuild::PROJECTIONS;
use masar_projections::verify::{self, IntegrityReport, VerifyProgress};
use serde_json::{json, Value};

use super::progress::{progress_bar, PeriodicLine};
use super::Config;

/// Options of `masar verify`.
#[derive(Debug, Clone, clap::Args)]
pub struct VerifyArgs {
    /// Also rebuild every projection into a scratch table and compare it with the live one, at
    /// the live checkpoint; a running server keeps answering (its projection runner pauses
    /// only while the last events are applied and the tables compared).
    #[arg(long)]
    pub projections: bool,
    /// Print the report as JSON (the fields of the GraphQL `IntegrityReport`).
    #[arg(long)]
    pub json: bool,
}

/// Runs `masar verify`: exits 0 when the log verifies (and, with `--projections`, every
/// projection equals its rebuild), 1 when anything is wrong.
pub async fn run(config: &Config, args: VerifyArgs) -> anyhow::Result<()> {
    let trusted = config.trusted_seal_key()?;
    let database = config.open_database().await?;
    let started = Instant::now();
    let bar = progress_bar("verifying");
    let periodic = PeriodicLine::new();
    let report = verify::verify_log(
        &database.pool,
        trusted.as_ref(),
        &|VerifyProgress { checked, total }| {
            bar.set_length(total);
            bar.set_position(checked);
            // Not a terminal: a line every few seconds instead of a bar.
            if bar.is_hidden() && periodic.due() {
                eprintln!("masar: verifying: {checked}/{total} events");
            }
        },
    )
    .await;
    bar.finish_and_clear();
    let report = match report {
        Ok(report) => report,
        Err(error) => {
            database.close().await;
            return Err(error.into());
        }
    };
    let seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "masar: checked {} events in {} streams in {:.1} s ({:.0} events/s)",
        report.events_checked,
        report.streams_checked,
        seconds,
        report.events_checked as f64 / seconds.max(1e-9)
    );
    if !args.json {
        print!("{}", report_text(&report));
    }
    let comparisons = if args.projections {
        Some(compare_projections(&database.pool).await)
    } else {
        None
    };
    database.close().await;
    let comparisons = comparisons.transpose()?;
    if args.json {
        let mut value = report_json(&report);
        if let (Some(comparisons), Value::Object(fields)) = (&comparisons, &mut value) {
            fields.insert("projections".to_owned(), projections_json(comparisons));
        }
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else if let Some(comparisons) = &comparisons {
        print!("{}", projections_text(comparisons));
    }
    outcome(&report, comparisons.as_deref().unwrap_or_default())
}

/// Exit 0 when the log verifies and every projection compared equals its rebuild; otherwise an
/// error naming what failed (exit 1).
fn outcome(report: &IntegrityReport, comparisons: &[ProjectionComparison]) -> anyhow::Result<()> {
    let mut failures = Vec::new();
    if !report.ok() {
        failures.push(format!(
            "the event log does not verify: {} problem(s) found",
            report.problem_count()
        ));
    }
    for comparison in comparisons.iter().filter(|c| !c.ok()) {
        failures.push(format!(
            "projection {} differs from its rebuild: {} difference(s) found",
            comparison.name,
            comparison.difference_count()
        ));
    }
    if failures.is_empty() {
        Ok(())
    } else {
        anyhow::bail!("{}", failures.join("; "))
    }
}

/// Rebuilds every projection into a scratch table and compares it with the live one, with a
/// progress bar each (a line every few seconds when stderr is not a terminal).
async fn compare_projections(pool: &sqlx::PgPool) -> anyhow::Result<Vec<ProjectionComparison>> {
    let mut comparisons = Vec::with_capacity(PROJECTIONS.len());
    for name in PROJECTIONS {
        let started = Instant::now();
        let bar = progress_bar(&format!("verifying {name}"));
        let periodic = PeriodicLine::new();
        let comparison = compare::compare(pool, name, &|progress| match progress {
            CompareProgress::Replaying { done, total } => {
                bar.set_length(total);
                bar.set_position(done);
                // Not a terminal: a line every few seconds instead of a bar.
                if bar.is_hidden() && periodic.due() {
                    eprintln!("masar: verifying {name}: {done}/{total} events replayed");
                }
            }
            CompareProgress::Comparing => bar.set_message("catching up and comparing"),
        })
        .await;
        bar.finish_and_clear();
        let comparison = comparison?;
        eprintln!(
            "masar: compared {name} with a rebuild: {} events replayed, {} caught up, at \
             position {}, in {:.1} s",
            comparison.replayed,
            comparison.caught_up,
            comparison.checkpoint.global_position,
            started.elapsed().as_secs_f64()
        );
        comparisons.push(comparison);
    }
    Ok(comparisons)
}

/// The comparisons, as the `projections` array of `--json`.
fn projections_json(comparisons: &[ProjectionComparison]) -> Value {
    comparisons
        .iter()
        .map(|c| {
            let differences: Vec<Value> = c
                .differences
                .iter()
                .map(|d| {
                    let columns: Vec<Value> = d
                        .columns
                        .iter()
                        .map(|column| {
                            json!({
                                "column": column.column,
                                "live": column.live,
                                "rebuilt": column.rebuilt,
                            })
                        })
                        .collect();
                    let (table, key_column) = d
                        .table
                        .as_ref()
                        .map_or((&c.table, &c.key_column), |(t, k)| (t, k));
                    json!({
                        "kind": d.kind.as_str(),
                        "table": table,
                        "keyColumn": key_column,
                        "key": d.key,
                        "columns": columns,
                    })
                })
                .collect();
            json!({
                "name": c.name,
                "ok": c.ok(),
                "table": c.table,
                "keyColumn": c.key_column,
                "checkpoint": {
                    "transactionId": c.checkpoint.xid(),
                    "globalPosition": c.checkpoint.global_position,
                },
                "liveRows": c.live_rows,
                "rebuiltRows": c.rebuilt_rows,
                "replayed": c.replayed,
                "caughtUp": c.caught_up,
                "missing": c.missing,
                "unexpected": c.unexpected,
                "different": c.different,
                "differences": differences,
                "differencesOmitted": c.differences_omitted,
            })
        })
        .collect()
}

/// Per projection, a summary, then one line per difference.
fn projections_text(comparisons: &[ProjectionComparison]) -> String {
    let mut text = String::new();
    for c in comparisons {
        let verdict = if c.ok() {
            "no difference".to_owned()
        } else {
            format!(
                "{} difference(s): {} missing, {} unexpected, {} different",
                c.difference_count(),
                c.missing,
                c.unexpected,
                c.different
            )
        };
        text.push_str(&format!(
            "{}: projection {} ({}) compared with a rebuild at position {} (transaction {}): \
             {} live rows, {} rebuilt rows, {verdict}\n",
            if c.ok() { "OK" } else { "FAILED" },
            c.name,
            c.table,
            c.checkpoint.global_position,
            c.checkpoint.xid(),
            c.live_rows,
            c.rebuilt_rows,
        ));
        for d in &c.differences {
            let what = match d.kind {
                compare::DifferenceKind::Missing => {
                    "the rebuild has this row, the live table does not".to_owned()
                }
                compare::DifferenceKind::Unexpected => {
                    "the live table has this row, the rebuild does not".to_owned()
                }
                compare::DifferenceKind::Different => d
                    .columns
                    .iter()
                    .map(|column| {
                        format!(
                            "{}: live {}, rebuilt {}",
                            column.column, column.live, column.rebuilt
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("; "),
            };
            let (table, key_column) = d
                .table
                .as_ref()
                .map_or((&c.table, &c.key_column), |(t, k)| (t, k));
            text.push_str(&format!(
                "{} {table} {key_column}={}: {what}\n",
                d.kind, d.key
            ));
        }
        if c.differences_omitted > 0 {
            text.push_str(&format!(
                "… and {} further differences of {} not listed\n",
                c.differences_omitted, c.name
            ));
        }
    }
    text
}

/// The report with the fields of the GraphQL `IntegrityReport`.
fn report_json(report: &IntegrityReport) -> Value {
    let mut problems: Vec<Value> = report
        .problems
        .iter()
        .map(|p| {
            json!({
                "aggregateId": p.aggregate_id,
                "sequence": p.sequence,
                "kind": p.kind.as_str(),
                "detail": p.detail,
            })
        })
        .collect();
    if report.problems_omitted > 0 {
        problems.push(json!({
            "aggregateId": "",
            "sequence": null,
            "kind": "MORE_PROBLEMS",
            "detail": format!("{} further problems are not listed", report.problems_omitted),
        }));
    }
    json!({
        "ok": report.ok(),
        "eventsChecked": report.events_checked,
        "streamsChecked": report.streams_checked,
        "head": report.head,
        "latestSeal": report.latest_seal.as_ref().map(super::seal::seal_json),
        "sealsChecked": report.seals_checked,
        "sealKeyTrusted": report.seal_key_trusted,
        "problems": problems,
    })
}

/// A summary, then one line per problem.
fn report_text(report: &IntegrityReport) -> String {
    let mut text = format!(
        "{}: {} events in {} streams checked, up to position {}; {}\n",
        if report.ok() { "OK" } else { "FAILED" },
        report.events_checked,
        report.streams_checked,
        report.head,
        seal_summary(report)
    );
    for problem in &report.problems {
        let sequence = problem
            .sequence
            .map_or_else(|| "-".to_owned(), |s| s.to_string());
        text.push_str(&format!(
            "{} at sequence {}: {}\n",
            problem.kind, sequence, problem.detail
        ));
    }
    if report.problems_omitted > 0 {
        text.push_str(&format!(
            "… and {} further problems not listed\n",
            report.problems_omitted
        ));
    }
    text
}

/// What the seals say, in a few words.
fn seal_summary(report: &IntegrityReport) -> String {
    match &report.latest_seal {
        None => "no seal yet (run `masar seal`)".to_owned(),
        Some(seal) => format!(
            "{} seal(s) checked, the latest at position {} ({}), signed by {}{}",
            report.seals_checked,
            seal.position,
            seal.sealed_at.to_rfc3339(),
            seal.public_key,
            if report.seal_key_trusted {
                ""
            } else {
                " (no trusted key given: set MASAR_SEAL_PUBLIC_KEY to check who signed)"
            }
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use masar_projections::verify::{IntegrityProblem, ProblemKind};

    #[test]
    fn a_report_with_a_problem_names_its_stream_and_sequence() {
        let report = IntegrityReport {
            events_checked: 3,
            streams_checked: 1,
            head: 3,
            problems: vec![IntegrityProblem {
                aggregate_type: "Beneficiary".into(),
                aggregate_id: "b-1".into(),
                sequence: Some(2),
                kind: ProblemKind::HashMismatch,
                detail: "Beneficiary b-1: edited".into(),
            }],
            problems_omitted: 0,
            ..IntegrityReport::default()
        };
        let value = report_json(&report);
        assert_eq!(value["ok"], false);
        assert_eq!(value["latestSeal"], Value::Null);
        assert_eq!(value["problems"][0]["aggregateId"], "b-1");
        assert_eq!(value["problems"][0]["sequence"], 2);
        assert_eq!(value["problems"][0]["kind"], "HASH_MISMATCH");
        let text = report_text(&report);
        assert!(text.starts_with("FAILED"));
        assert!(text.contains("HASH_MISMATCH at sequence 2: Beneficiary b-1: edited"));
    }
}

#[cfg(test)]
mod projection_report_tests {
    use super::*;
    use masar_projections::compare::{ColumnDifference, DifferenceKind, RowDifference};
    use masar_projections::feed::Checkpoint;

    fn comparison(differences: Vec<RowDifference>) -> ProjectionComparison {
        ProjectionComparison {
            name: "beneficiaries".into(),
            table: "beneficiary_state".into(),
            key_column: "beneficiary_id".into(),
            checkpoint: Checkpoint {
                transaction_id: 812,
                global_position: 40,
            },
            live_rows: 7,
            rebuilt_rows: 7,
            replayed: 39,
            caught_up: 1,
            missing: 0,
            unexpected: 0,
            different: differences.len() as u64,
            differences,
            differences_omitted: 0,
        }
    }

    #[test]
    fn a_differing_row_names_its_key_column_and_both_values() {
        let edited = comparison(vec![RowDifference {
            kind: DifferenceKind::Different,
            key: "b-1".into(),
            columns: vec![ColumnDifference {
                column: "stage".into(),
                live: json!("EMPLOYED"),
                rebuilt: json!("SENSITISED"),
            }],
            table: None,
        }]);
        let text = projections_text(std::slice::from_ref(&edited));
        assert!(text.starts_with("FAILED: projection beneficiaries (beneficiary_state)"));
        assert!(text.contains(
            "DIFFERENT beneficiary_state beneficiary_id=b-1: stage: live \"EMPLOYED\", rebuilt \
             \"SENSITISED\"\n"
        ));
        let value = projections_json(std::slice::from_ref(&edited));
        assert_eq!(value[0]["ok"], false);
        assert_eq!(value[0]["checkpoint"]["globalPosition"], 40);
        assert_eq!(value[0]["differences"][0]["kind"], "DIFFERENT");
        assert_eq!(value[0]["differences"][0]["columns"][0]["live"], "EMPLOYED");

        let clean = comparison(Vec::new());
        assert!(projections_text(std::slice::from_ref(&clean)).starts_with("OK: projection"));
        let chain = IntegrityReport::default();
        assert!(outcome(&chain, std::slice::from_ref(&clean)).is_ok());
        let failed = outcome(&chain, &[clean, edited]).unwrap_err().to_string();
        assert!(
            failed.contains("projection beneficiaries differs"),
            "{failed}"
        );
    }

    #[test]
    fn a_difference_in_another_table_of_the_projection_names_that_table() {
        let edited = comparison(vec![RowDifference {
            kind: DifferenceKind::Missing,
            key: "AMUDDU, false, 2025-03-01".into(),
            columns: Vec::new(),
            table: Some((
                "milestone_counts".into(),
                "programme_code, by_cell, on_date".into(),
            )),
        }]);
        let text = projections_text(std::slice::from_ref(&edited));
        assert!(
            text.contains(
                "MISSING milestone_counts programme_code, by_cell, on_date=AMUDDU, false, \
                 2025-03-01"
            ),
            "{text}"
        );
        let value = projections_json(std::slice::from_ref(&edited));
        assert_eq!(value[0]["differences"][0]["table"], "milestone_counts");
        assert_eq!(value[0]["table"], "beneficiary_state");
    }
}
