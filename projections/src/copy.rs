//! Writing projection rows with `COPY … FROM STDIN` (PostgreSQL's text format): the fast way
//! to fill a table when a projection is rebuilt or a batch of rows replaced.

use std::fmt::Display;

use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::PgConnection;

/// A row that can be written in COPY's text format.
pub trait CopyRow {
    /// Writes the row's columns, then ends the row.
    fn write(&self, out: &mut CopyWriter);
}

/// A buffer of rows in COPY's text format (tab-separated, `\N` for NULL).
#[derive(Debug, Default)]
pub struct CopyWriter {
    buffer: String,
    at_row_start: bool,
    rows: usize,
}

impl CopyWriter {
    /// An empty buffer.
    pub fn new() -> Self {
        CopyWriter {
            buffer: String::new(),
            at_row_start: true,
            rows: 0,
        }
    }

    /// Bytes buffered.
    pub fn len(&self) -> usize {
        self.buffer.len()
    }

    /// Whether nothing is buffered.
    pub fn is_empty(&self) -> bool {
        self.buffer.is_empty()
    }

    fn separate(&mut self) {
        if !self.at_row_start {
            self.buffer.push('\t');
        }
        self.at_row_start = false;
    }

    /// A text column (escaped).
    pub fn text(&mut self, value: &str) {
        self.separate();
        for c in value.chars() {
            match c {
                '\\' => self.buffer.push_str("\\\\"),
                '\t' => self.buffer.push_str("\\t"),
                '\n' => self.buffer.push_str("\\n"),
                '\r' => self.buffer.push_str("\\r"),
                c => self.buffer.push(c),
            }
        }
    }

    /// A column already in PostgreSQL's text form, without tabs, newlines or backslashes.
    pub fn raw(&mut self, value: &str) {
        self.separate();
        self.buffer.push_str(value);
    }

    /// NULL.
    pub fn null(&mut self) {
        self.separate();
        self.buffer.push_str("\\N");
    }

    /// A nullable text column.
    pub fn opt_text(&mut self, value: Option<&str>) {
        match value {
            Some(value) => self.text(value),
            None => self.null(),
        }
    }

    /// A number, date or other value whose `Display` is PostgreSQL's text form.
    pub fn display(&mut self, value: impl Display) {
        self.separate();
        self.buffer.push_str(&value.to_string());
    }

    /// A nullable [`display`](Self::display) column.
    pub fn opt_display(&mut self, value: Option<impl Display>) {
        match value {
            Some(value) => self.display(value),
            None => self.null(),
        }
    }

    /// A boolean.
    pub fn boolean(&mut self, value: bool) {
        self.raw(if value { "t" } else { "f" });
    }

    /// A nullable timestamp with time zone.
    pub fn opt_timestamp(&mut self, value: Option<DateTime<Utc>>) {
        match value {
            Some(at) => self.raw(&at.to_rfc3339_opts(SecondsFormat::Micros, true)),
            None => self.null(),
        }
    }

    /// A `text[]` column: each element double-quoted and escaped for the array syntax, then
    /// for COPY.
    pub fn text_array<'a>(&mut self, values: impl Iterator<Item = &'a str>) {
        let mut array = String::from("{");
        for (index, value) in values.enumerate() {
            if index > 0 {
                array.push(',');
            }
            array.push('"');
            for c in value.chars() {
                if c == '"' || c == '\\' {
                    array.push('\\');
                }
                array.push(c);
            }
            array.push('"');
        }
        array.push('}');
        self.text(&array);
    }

    /// Ends the current row.
    pub fn end_row(&mut self) {
        self.buffer.push('\n');
        self.at_row_start = true;
        self.rows += 1;
    }

    /// Sends the buffered rows into `table (columns)` and empties the buffer.
    pub async fn send(
        &mut self,
        connection: &mut PgConnection,
        table: &str,
        columns: &str,
    ) -> Result<u64, sqlx::Error> {
        if self.rows == 0 {
            return Ok(0);
        }
        let mut copy = connection
            .copy_in_raw(&format!("COPY {table} ({columns}) FROM STDIN"))
            .await?;
        let data = std::mem::take(&mut self.buffer);
        self.rows = 0;
        self.at_row_start = true;
        if let Err(error) = copy.send(data.into_bytes()).await {
            let _ = copy.abort("sending rows failed").await;
            return Err(error);
        }
        copy.finish().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_nulls_marked() {
        let mut out = CopyWriter::new();
        out.text("a\tb\\c\nd");
        out.null();
        out.boolean(true);
        out.text_array(["x", "y\"z"].into_iter());
        out.end_row();
        assert_eq!(out.buffer, "a\\tb\\\\c\\nd\t\\N\tt\t{\"x\",\"y\\\\\"z\"}\n");
    }
}
