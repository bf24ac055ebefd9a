//! The contract's scalars: Date (ISO 8601), DateTime (RFC 3339), Decimal (exact, as a string).

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};
use chrono::{NaiveDate, Utc};

use crate::service::territory::format_euro_cents;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Date(pub NaiveDate);

/// Four digits, '-', two digits, '-', two digits.
fn iso_shaped(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b.iter().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                *c == b'-'
            } else {
                c.is_ascii_digit()
            }
        })
}

#[Scalar(name = "Date")]
impl ScalarType for Date {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            // chrono alone also takes "2022-6-1", " 2022-06-01" and "+10000-01-01"; the
            // shape is checked first, so that a date is what the message says and compares as
            // text where the database stores it as text (SQLite).
            Value::String(s) if iso_shaped(s) => NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map(Date)
                .map_err(|_| InputValueError::custom(format!("{s:?} is not a date (YYYY-MM-DD)"))),
            Value::String(s) => Err(InputValueError::custom(format!(
                "{s:?} is not a date (YYYY-MM-DD)"
            ))),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.format("%Y-%m-%d").to_string())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateTime(pub chrono::DateTime<Utc>);

#[Scalar(name = "DateTime")]
impl ScalarType for DateTime {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) => chrono::DateTime::parse_from_rfc3339(s)
                .map(|d| DateTime(d.with_timezone(&Utc)))
                .map_err(|_| {
                    InputValueError::custom(format!("{s:?} is not an RFC 3339 date-time"))
                }),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
    }
}

/// Money in euro, exact: kept in cents, serialised as "867617.14".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decimal(pub i64);

#[Scalar(name = "Decimal")]
impl ScalarType for Decimal {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) => crate::service::territory::parse_euro_cents(s)
                .map(Decimal)
                .map_err(|e| InputValueError::custom(e.to_string())),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(format_euro_cents(self.0))
    }
}
