//! The contract's custom scalars: `UUID`, `Date` (YYYY-MM-DD), `DateTime` (RFC 3339 with
//! offset), `Position` (a 64-bit log position as a decimal string) and `JSON`.
//!
//! Each is a newtype with its own parsing, so that what a client sends is checked once, here,
//! and the rest of the API works with `uuid::Uuid`, `chrono` and `serde_json` values.

use async_graphql::{indexmap::IndexMap, InputValueError, InputValueResult, Name, Number};
use async_graphql::{Scalar, ScalarType, Value};
use chrono::{NaiveDate, SecondsFormat, Utc};

/// A UUID, e.g. `67e55044-10b1-426f-9247-bb680e5fe0c8`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Uuid(pub uuid::Uuid);

/// A UUID in its hyphenated text form, e.g. `67e55044-10b1-426f-9247-bb680e5fe0c8`.
#[Scalar(
    name = "UUID",
    specified_by_url = "https://www.rfc-editor.org/rfc/rfc9562"
)]
impl ScalarType for Uuid {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(text) => uuid::Uuid::parse_str(text.trim()).map(Uuid).map_err(|_| {
                InputValueError::custom(format!(
                    "{text:?} is not a UUID: use the form 67e55044-10b1-426f-9247-bb680e5fe0c8"
                ))
            }),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn is_valid(value: &Value) -> bool {
        matches!(value, Value::String(_))
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.to_string())
    }
}

impl From<uuid::Uuid> for Uuid {
    fn from(uuid: uuid::Uuid) -> Self {
        Uuid(uuid)
    }
}

/// An ISO 8601 calendar date, YYYY-MM-DD.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date(pub NaiveDate);

/// ISO 8601 calendar date, YYYY-MM-DD.
#[Scalar(name = "Date")]
impl ScalarType for Date {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(text) => parse_date(text).map(Date).ok_or_else(|| {
                InputValueError::custom(format!(
                    "{text:?} is not a date: use YYYY-MM-DD, e.g. 2024-03-01"
                ))
            }),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn is_valid(value: &Value) -> bool {
        matches!(value, Value::String(_))
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.format("%Y-%m-%d").to_string())
    }
}

/// Exactly `YYYY-MM-DD` (chrono alone would also accept a sign or more digits).
fn parse_date(text: &str) -> Option<NaiveDate> {
    let bytes = text.as_bytes();
    let shaped = bytes.len() == 10
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && bytes
            .iter()
            .enumerate()
            .all(|(i, b)| i == 4 || i == 7 || b.is_ascii_digit());
    if !shaped {
        return None;
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()
}

/// An RFC 3339 timestamp with offset, e.g. `2024-03-01T09:30:00+01:00`; served in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct DateTime(pub chrono::DateTime<Utc>);

/// RFC 3339 timestamp with offset.
#[Scalar(
    name = "DateTime",
    specified_by_url = "https://www.rfc-editor.org/rfc/rfc3339"
)]
impl ScalarType for DateTime {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(text) => chrono::DateTime::parse_from_rfc3339(text.trim())
                .map(|at| DateTime(at.with_timezone(&Utc)))
                .map_err(|_| {
                    InputValueError::custom(format!(
                        "{text:?} is not an RFC 3339 timestamp: use e.g. 2024-03-01T09:30:00+01:00 \
                         or 2024-03-01T08:30:00Z"
                    ))
                }),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn is_valid(value: &Value) -> bool {
        matches!(value, Value::String(_))
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.to_rfc3339_opts(SecondsFormat::AutoSi, true))
    }
}

impl From<chrono::DateTime<Utc>> for DateTime {
    fn from(at: chrono::DateTime<Utc>) -> Self {
        DateTime(at)
    }
}

/// A position in the global event log: a non-negative 64-bit integer, written as a decimal
/// string so that clients whose numbers are doubles read it exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position(pub i64);

/// A 64-bit position in the global event log, serialised as a decimal string.
#[Scalar(name = "Position")]
impl ScalarType for Position {
    fn parse(value: Value) -> InputValueResult<Self> {
        let parsed = match &value {
            Value::String(text) if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) => {
                text.parse::<i64>().ok()
            }
            Value::Number(number) => number.as_i64().filter(|n| *n >= 0),
            _ => return Err(InputValueError::expected_type(value)),
        };
        parsed.map(Position).ok_or_else(|| {
            InputValueError::custom(format!(
                "{value} is not a log position: use a non-negative whole number written as a \
                 string, e.g. \"1200\""
            ))
        })
    }

    fn is_valid(value: &Value) -> bool {
        matches!(value, Value::String(_) | Value::Number(_))
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.to_string())
    }
}

/// Arbitrary JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct Json(pub serde_json::Value);

/// Arbitrary JSON.
#[Scalar(name = "JSON")]
impl ScalarType for Json {
    fn parse(value: Value) -> InputValueResult<Self> {
        value
            .into_json()
            .map(Json)
            .map_err(|error| InputValueError::custom(format!("not JSON: {error}")))
    }

    fn to_value(&self) -> Value {
        to_graphql_value(&self.0)
    }
}

fn to_graphql_value(json: &serde_json::Value) -> Value {
    match json {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Boolean(*b),
        serde_json::Value::Number(n) => Value::Number(Number::clone(n)),
        serde_json::Value::String(s) => Value::String(s.clone()),
        serde_json::Value::Array(items) => {
            Value::List(items.iter().map(to_graphql_value).collect())
        }
        serde_json::Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, item)| (Name::new(key), to_graphql_value(item)))
                .collect::<IndexMap<Name, Value>>(),
        ),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn string(text: &str) -> Value {
        Value::String(text.to_owned())
    }

    #[test]
    fn uuids_parse_in_their_text_form_only() {
        let id =
            <Uuid as ScalarType>::parse(string("67e55044-10b1-426f-9247-bb680e5fe0c8")).unwrap();
        assert_eq!(
            id.to_value(),
            string("67e55044-10b1-426f-9247-bb680e5fe0c8")
        );
        assert!(<Uuid as ScalarType>::parse(string("nope")).is_err());
        assert!(<Uuid as ScalarType>::parse(Value::Number(1.into())).is_err());
    }

    #[test]
    fn dates_are_exactly_yyyy_mm_dd() {
        let date = <Date as ScalarType>::parse(string("2024-02-29")).unwrap();
        assert_eq!(date.to_value(), string("2024-02-29"));
        for bad in [
            "2023-02-29",
            "2024-2-1",
            "+2024-02-01",
            "20240-02-01",
            "2024/02/01",
            "",
        ] {
            assert!(<Date as ScalarType>::parse(string(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn timestamps_need_an_offset_and_are_served_in_utc() {
        let at = <DateTime as ScalarType>::parse(string("2024-03-01T09:30:00+01:00")).unwrap();
        assert_eq!(at.to_value(), string("2024-03-01T08:30:00Z"));
        assert!(<DateTime as ScalarType>::parse(string("2024-03-01T09:30:00")).is_err());
        assert!(<DateTime as ScalarType>::parse(string("2024-03-01")).is_err());
    }

    #[test]
    fn a_leap_second_is_a_timestamp_left_for_the_domain_to_refuse() {
        // RFC 3339 allows second 60: it parses here, and the domain refuses to record it
        // (`values::not_leap_second`), item by item, naming the field.
        let at = <DateTime as ScalarType>::parse(string("2024-06-30T23:59:60Z")).unwrap();
        assert_eq!(at.to_value(), string("2024-06-30T23:59:60Z"));
    }

    #[test]
    fn positions_are_decimal_strings() {
        let position = <Position as ScalarType>::parse(string("9007199254740993")).unwrap();
        assert_eq!(position, Position(9_007_199_254_740_993));
        assert_eq!(position.to_value(), string("9007199254740993"));
        assert_eq!(
            <Position as ScalarType>::parse(Value::Number(12.into())).unwrap(),
            Position(12)
        );
        for bad in ["-1", "1.5", "", "x", "99999999999999999999"] {
            assert!(
                <Position as ScalarType>::parse(string(bad)).is_err(),
                "{bad}"
            );
        }
        assert!(<Position as ScalarType>::parse(Value::Number((-3).into())).is_err());
    }

    #[test]
    fn json_round_trips() {
        let json = serde_json::json!({"a": [1, 2.5, null, true, "x"], "b": {"c": -3}});
        let value = Json(json.clone()).to_value();
        assert_eq!(<Json as ScalarType>::parse(value).unwrap(), Json(json));
    }
}
