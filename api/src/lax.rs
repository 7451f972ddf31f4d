//! Lenient decoding of request fields, as agents send them: `"15"` for 15, `"true"` for true,
//! `15.0` for 15. A number with a fractional part is still refused for an integer field.

use serde::{Deserialize, Deserializer, de::Error};
use serde_json::Value;

/// An optional integer that may arrive as a JSON number, an integral float or a numeric string.
pub fn opt_int<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(v) => int_of(&v)
            .map(Some)
            .ok_or_else(|| D::Error::custom(format!("expected an integer, got {}", kind(&v)))),
    }
}

/// An optional boolean that may arrive as a JSON bool or as the strings `true`/`false`.
pub fn opt_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(b)),
        Some(Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(Some(true)),
            "false" | "0" | "no" | "off" => Ok(Some(false)),
            _ => Err(D::Error::custom(format!(
                "expected a boolean, got {}",
                kind(&Value::String(s))
            ))),
        },
        Some(Value::Number(n)) if n.as_i64() == Some(0) || n.as_i64() == Some(1) => {
            Ok(Some(n.as_i64() == Some(1)))
        }
        Some(v) => Err(D::Error::custom(format!(
            "expected a boolean, got {}",
            kind(&v)
        ))),
    }
}

/// An optional list of strings that may also arrive as one comma-separated string.
pub fn opt_string_list<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(split_list(&s))),
        Some(Value::Array(items)) => items
            .into_iter()
            .map(|v| match v {
                Value::String(s) => Ok(s),
                other => Err(D::Error::custom(format!(
                    "expected a list of strings, got {} in the list",
                    kind(&other)
                ))),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(v) => Err(D::Error::custom(format!(
            "expected a list of strings, got {}",
            kind(&v)
        ))),
    }
}

/// Splits `a, b,c` into trimmed items (used for `tags=` query strings too).
pub fn split_list(s: &str) -> Vec<String> {
    s.split(',').map(|t| t.trim().to_string()).collect()
}

/// What a value is, for an error message: `a string ("fifty")`, `a number (1.5)`…
pub fn kind(v: &Value) -> String {
    let shown = |v: &Value| {
        let text = v.to_string();
        if text.chars().count() > 40 {
            format!("{}…", text.chars().take(40).collect::<String>())
        } else {
            text
        }
    };
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("a boolean ({b})"),
        Value::Number(_) => format!("a number ({})", shown(v)),
        Value::String(_) => format!("a string ({})", shown(v)),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "an object".into(),
    }
}

pub(crate) fn int_of(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| {
            let f = n.as_f64()?;
            (f.fract() == 0.0 && f.abs() < 9.0e15).then_some(f as i64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct T {
        #[serde(default, deserialize_with = "opt_int")]
        n: Option<i64>,
        #[serde(default, deserialize_with = "opt_bool")]
        b: Option<bool>,
        #[serde(default, deserialize_with = "opt_string_list")]
        l: Option<Vec<String>>,
    }

    fn parse(s: &str) -> Result<T, serde_json::Error> {
        serde_json::from_str(s)
    }

    #[test]
    fn coerces_like_agents_send() {
        let t = parse(r#"{"n": "15", "b": "true", "l": "a, b"}"#).unwrap();
        assert_eq!((t.n, t.b), (Some(15), Some(true)));
        assert_eq!(t.l.unwrap(), vec!["a", "b"]);
        assert_eq!(parse(r#"{"n": 15.0}"#).unwrap().n, Some(15));
        assert_eq!(parse(r#"{}"#).unwrap().n, None);
        assert_eq!(parse(r#"{"n": null}"#).unwrap().n, None);
    }

    #[test]
    fn refuses_what_is_not_a_value_of_the_type() {
        assert!(parse(r#"{"n": 1.5}"#).is_err());
        assert!(parse(r#"{"n": "x"}"#).is_err());
        assert!(parse(r#"{"b": "maybe"}"#).is_err());
        assert!(parse(r#"{"l": [1]}"#).is_err());
    }

    #[test]
    fn errors_say_what_was_expected_and_what_came() {
        let err = |s: &str| parse(s).err().unwrap().to_string();
        assert!(
            err(r#"{"n": "fifty"}"#).starts_with(r#"expected an integer, got a string ("fifty")"#),
            "{}",
            err(r#"{"n": "fifty"}"#)
        );
        assert!(err(r#"{"b": [true]}"#).starts_with("expected a boolean, got a list"));
        assert!(
            err(r#"{"l": ["a", 7]}"#).starts_with("expected a list of strings, got a number (7)")
        );
    }
}
