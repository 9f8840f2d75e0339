//! `masar verify [--json]`: recompute every stream's hash chain and report each problem.

use std::time::Instant;

use masar_projections::verify::{self, IntegrityReport, VerifyProgress};
use serde_json::{json, Value};

use super::progress::{progress_bar, PeriodicLine};
use super::Config;

/// Exit status of `masar verify --projections` until projection comparison exists.
const NOT_AVAILABLE_EXIT: i32 = 2;

/// Options of `masar verify`.
#[derive(Debug, Clone, clap::Args)]
pub struct VerifyArgs {
    /// Also rebuild every projection into scratch tables and compare with the live ones (not
    /// available yet: exits 2).
    #[arg(long)]
    pub projections: bool,
    /// Print the report as JSON (the fields of the GraphQL `IntegrityReport`).
    #[arg(long)]
    pub json: bool,
}

/// Runs `masar verify`: exits 0 when the log verifies, 1 when anything is wrong.
pub async fn run(config: &Config, args: VerifyArgs) -> anyhow::Result<()> {
    if args.projections {
        eprintln!(
            "masar: verify --projections is not available yet: comparing projections with a \
             rebuild comes with a later step; run `masar verify` without it to check the hash \
             chains"
        );
        std::process::exit(NOT_AVAILABLE_EXIT);
    }
    let database = config.open_database().await?;
    let started = Instant::now();
    let bar = progress_bar("verifying");
    let periodic = PeriodicLine::new();
    let report = verify::verify_log(&database.pool, &|VerifyProgress { checked, total }| {
        bar.set_length(total);
        bar.set_position(checked);
        // Not a terminal: a line every few seconds instead of a bar.
        if bar.is_hidden() && periodic.due() {
            eprintln!("masar: verifying: {checked}/{total} events");
        }
    })
    .await;
    bar.finish_and_clear();
    database.close().await;
    let report = report?;
    let seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "masar: checked {} events in {} streams in {:.1} s ({:.0} events/s)",
        report.events_checked,
        report.streams_checked,
        seconds,
        report.events_checked as f64 / seconds.max(1e-9)
    );
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report_json(&report))?);
    } else {
        print!("{}", report_text(&report));
    }
    if report.ok() {
        Ok(())
    } else {
        anyhow::bail!(
            "the event log does not verify: {} problem(s) found",
            report.problem_count()
        )
    }
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
        "latestSeal": null,
        "problems": problems,
    })
}

/// A summary, then one line per problem.
fn report_text(report: &IntegrityReport) -> String {
    let mut text = format!(
        "{}: {} events in {} streams checked, up to position {}; latest seal: none\n",
        if report.ok() { "OK" } else { "FAILED" },
        report.events_checked,
        report.streams_checked,
        report.head
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
