//! `masar export events [--output FILE] [--after POSITION]`: the raw log as JSON Lines, with
//! hashes and seals, for independent verification (`docs/event-encoding.md`, "Export
//! format"; `tools/verify_export.py` checks it).

use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use masar_projections::export::{self, ExportProgress, ExportSummary};

use super::progress::{progress_bar, PeriodicLine};
use super::Config;

/// Options of `masar export`.
#[derive(Debug, Clone, clap::Args)]
pub struct ExportArgs {
    /// What to export.
    #[command(subcommand)]
    pub what: ExportCommand,
}

/// What `masar export` writes.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum ExportCommand {
    /// The raw event log as JSON Lines, in global order, with hashes and seals, for independent
    /// verification (format: docs/event-encoding.md; check it with tools/verify_export.py).
    Events(EventsArgs),
}

/// Options of `masar export events`.
#[derive(Debug, Clone, clap::Args)]
pub struct EventsArgs {
    /// Write the export to FILE instead of standard output. It is written to a temporary file
    /// beside FILE and renamed at the end, so a failed export leaves no partial FILE.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Export only the events and seals after this global position (a partial export, whose
    /// first event of each stream and whose seals' digests cannot be checked on their own).
    #[arg(
        long,
        value_name = "POSITION",
        default_value_t = 0,
        allow_negative_numbers = true,
        value_parser = parse_position
    )]
    pub after: i64,
}

/// Runs `masar export`.
pub async fn run(config: &Config, args: ExportArgs) -> anyhow::Result<()> {
    match args.what {
        ExportCommand::Events(args) => events(config, args).await,
    }
}

/// A global position to start after: an integer, 0 or more.
fn parse_position(text: &str) -> Result<i64, String> {
    let position: i64 = text
        .trim()
        .parse()
        .map_err(|_| format!("expected a global position (an integer, 0 or more), not {text:?}"))?;
    if position < 0 {
        return Err(format!(
            "a global position is 0 or more, not {position} (use 0, the default, to export \
             the whole log)"
        ));
    }
    Ok(position)
}

/// Runs `masar export events`.
async fn events(config: &Config, args: EventsArgs) -> anyhow::Result<()> {
    // The destination is checked before the database is opened: a bad path fails at once.
    let mut destination = match &args.output {
        Some(path) => Some(PendingFile::create(path)?),
        None => None,
    };
    let database = config.open_database().await?;
    let started = Instant::now();
    let bar = progress_bar("exporting");
    let periodic = PeriodicLine::new();
    let progress = |ExportProgress { written, total }| {
        bar.set_length(total);
        bar.set_position(written);
        // Not a terminal: a line every few seconds instead of a bar.
        if bar.is_hidden() && periodic.due() {
            eprintln!("masar: exporting: {written}/{total} events");
        }
    };
    let exported = {
        let export = async {
            match destination.as_mut() {
                Some(pending) => {
                    export::export_events(&database.pool, args.after, pending.file(), &progress)
                        .await
                }
                None => {
                    export::export_events(&database.pool, args.after, std::io::stdout(), &progress)
                        .await
                }
            }
        };
        tokio::select! {
            exported = export => exported.map_err(anyhow::Error::from),
            _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
        }
    };
    bar.finish_and_clear();
    database.close().await;
    // On an error, `destination` is dropped here and its temporary file removed.
    let summary = exported?;
    let target = match destination {
        Some(pending) => pending.persist()?.display().to_string(),
        None => "standard output".to_owned(),
    };
    report(&summary, &target, started.elapsed().as_secs_f64());
    Ok(())
}

/// The one-line summary on stderr.
fn report(summary: &ExportSummary, target: &str, seconds: f64) {
    let range = if summary.after == 0 {
        "the whole log".to_owned()
    } else {
        format!("after position {}", summary.after)
    };
    eprintln!(
        "masar: exported {} events and {} seals ({range}, up to position {}) to {target} in \
         {seconds:.1} s ({:.0} events/s)",
        summary.events,
        summary.seals,
        summary.head,
        summary.events as f64 / seconds.max(1e-9)
    );
}

/// The output file while it is written: a temporary file beside it, renamed over it by
/// [`PendingFile::persist`], removed when dropped before that.
#[derive(Debug)]
struct PendingFile {
    /// Where the export goes.
    target: PathBuf,
    /// The temporary file's path, in the same directory (so that the rename is atomic);
    /// empty once renamed.
    temporary: PathBuf,
    /// The temporary file.
    file: File,
}

impl PendingFile {
    /// Creates the temporary file beside `target`, failing with a clear reason when `target`
    /// cannot be written.
    fn create(target: &Path) -> anyhow::Result<PendingFile> {
        let cannot = || format!("cannot write the export to {}", target.display());
        if target.is_dir() {
            anyhow::bail!("{}: it is a directory", cannot());
        }
        let name = target
            .file_name()
            .with_context(|| format!("{}: not a file name", cannot()))?;
        let directory = match target.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if !directory.is_dir() {
            anyhow::bail!(
                "{}: the directory {} does not exist",
                cannot(),
                directory.display()
            );
        }
        let mut temporary_name = std::ffi::OsString::from(".");
        temporary_name.push(name);
        temporary_name.push(format!(".{}.partial", std::process::id()));
        let temporary = directory.join(temporary_name);
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temporary)
            .map_err(|error| {
                anyhow::anyhow!(
                    "{}: cannot create a file in {}: {error}",
                    cannot(),
                    directory.display()
                )
            })?;
        Ok(PendingFile {
            target: target.to_path_buf(),
            temporary,
            file,
        })
    }

    /// The temporary file, to write to.
    fn file(&mut self) -> &mut File {
        &mut self.file
    }

    /// Syncs the temporary file to disk and renames it to the target; returns the target.
    fn persist(mut self) -> anyhow::Result<PathBuf> {
        let cannot = |error: std::io::Error| {
            anyhow::anyhow!(
                "cannot write the export to {}: {error}",
                self.target.display()
            )
        };
        self.file.sync_all().map_err(cannot)?;
        fs::rename(&self.temporary, &self.target).map_err(cannot)?;
        // Renamed: nothing left to remove.
        self.temporary = PathBuf::new();
        Ok(std::mem::take(&mut self.target))
    }
}

impl Drop for PendingFile {
    fn drop(&mut self) {
        if !self.temporary.as_os_str().is_empty() {
            let _ = fs::remove_file(&self.temporary);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn positions_are_integers_from_zero() {
        assert_eq!(parse_position("0"), Ok(0));
        assert_eq!(parse_position("42"), Ok(42));
        assert!(parse_position("-3")
            .unwrap_err()
            .contains("0 or more, not -3"));
        assert!(parse_position("x").unwrap_err().contains("not \"x\""));
    }

    #[test]
    fn a_pending_file_appears_only_when_persisted() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("log.jsonl");
        let mut pending = PendingFile::create(&target).unwrap();
        pending.file().write_all(b"line\n").unwrap();
        assert!(!target.exists());
        assert_eq!(pending.persist().unwrap(), target);
        assert_eq!(fs::read_to_string(&target).unwrap(), "line\n");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);

        let mut dropped = PendingFile::create(&dir.path().join("other.jsonl")).unwrap();
        dropped.file().write_all(b"half").unwrap();
        drop(dropped);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn an_unwritable_target_is_refused_with_its_reason() {
        let dir = tempfile::tempdir().unwrap();
        let error = PendingFile::create(dir.path()).unwrap_err().to_string();
        assert!(error.contains("directory"), "{error}");
        let missing = dir.path().join("missing").join("log.jsonl");
        let error = PendingFile::create(&missing).unwrap_err().to_string();
        assert!(error.contains("does not exist"), "{error}");
    }
}
