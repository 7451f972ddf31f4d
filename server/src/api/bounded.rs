//! Decoding request bodies (JSON, YAML front-matter) within the limits of
//! `pinchwork_client::limits`. Values are counted as they are built, YAML aliases included,
//! so a small document cannot expand into a large one: a 300 KB front-matter of one anchor
//! and 100,000 aliases to it is refused after `MAX_BODY_VALUES` values, not expanded to
//! a billion.

use crate::error::Error;
use pinchwork_client::limits::{
    MAX_BODY_DEPTH, MAX_BODY_TEXT_BYTES, MAX_BODY_VALUES, MAX_FRONT_MATTER_BYTES,
};
use serde::Deserializer;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use std::fmt;

/// A JSON document: `Ok(Err(_))` when it is not well-formed JSON, `Err(_)` (a 400 that says
/// which limit) when it is too large once decoded.
pub fn json(text: &str) -> Result<Result<Value, serde_json::Error>, Error> {
    let mut budget = Budget::default();
    let mut de = serde_json::Deserializer::from_str(text);
    let value = Bounded::new(&mut budget)
        .deserialize(&mut de)
        .and_then(|v| de.end().map(|()| v));
    budget.verdict(value)
}

/// A YAML front-matter: `Ok(Err(_))` when it is not well-formed YAML, `Err(_)` when it or
/// what it expands to is too large.
pub fn yaml(text: &str) -> Result<Result<Value, serde_yaml::Error>, Error> {
    if text.len() > MAX_FRONT_MATTER_BYTES {
        return Err(Error::bad_request(format!(
            "YAML front-matter is too large: at most {MAX_FRONT_MATTER_BYTES} bytes (put long \
             text in the markdown body, or send JSON)"
        )));
    }
    let mut budget = Budget::default();
    let value = Bounded::new(&mut budget).deserialize(serde_yaml::Deserializer::from_str(text));
    budget.verdict(value)
}

/// What has been built so far, and which limit was passed, if any.
#[derive(Default)]
struct Budget {
    values: usize,
    text_bytes: usize,
    exceeded: Option<String>,
}

impl Budget {
    /// A limit passed wins over the parse error it caused.
    fn verdict<T, E>(self, value: Result<T, E>) -> Result<Result<T, E>, Error> {
        match self.exceeded {
            Some(why) => Err(Error::bad_request(format!(
                "Request body is too large: {why}"
            ))),
            None => Ok(value),
        }
    }
}

/// Builds a `serde_json::Value`, spending the budget on every value.
struct Bounded<'b> {
    budget: &'b mut Budget,
    depth: usize,
}

impl<'b> Bounded<'b> {
    fn new(budget: &'b mut Budget) -> Self {
        Self { budget, depth: 0 }
    }

    fn nested(&mut self) -> Bounded<'_> {
        Bounded {
            budget: self.budget,
            depth: self.depth + 1,
        }
    }

    fn spend<E: de::Error>(&mut self, text_bytes: usize) -> Result<(), E> {
        self.budget.values += 1;
        self.budget.text_bytes += text_bytes;
        let exceeded = if self.budget.values > MAX_BODY_VALUES {
            format!("more than {MAX_BODY_VALUES} values (YAML aliases count as what they repeat)")
        } else if self.budget.text_bytes > MAX_BODY_TEXT_BYTES {
            format!("more than {MAX_BODY_TEXT_BYTES} bytes of text once decoded")
        } else if self.depth > MAX_BODY_DEPTH {
            format!("nested more than {MAX_BODY_DEPTH} levels deep")
        } else {
            return Ok(());
        };
        self.budget.exceeded = Some(exceeded.clone());
        Err(E::custom(exceeded))
    }
}

fn refuse_nul<E: de::Error>(text: &str) -> Result<(), E> {
    if text.contains('\0') {
        return Err(E::custom(super::negotiate::NUL_REFUSED));
    }
    Ok(())
}

impl<'de> DeserializeSeed<'de> for Bounded<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Bounded<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(mut self, v: bool) -> Result<Value, E> {
        self.spend(0)?;
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(mut self, v: i64) -> Result<Value, E> {
        self.spend(0)?;
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E: de::Error>(mut self, v: u64) -> Result<Value, E> {
        self.spend(0)?;
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(mut self, v: f64) -> Result<Value, E> {
        self.spend(0)?;
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E: de::Error>(mut self, v: &str) -> Result<Value, E> {
        self.spend(v.len())?;
        refuse_nul(v)?;
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(mut self, v: String) -> Result<Value, E> {
        self.spend(v.len())?;
        refuse_nul(&v)?;
        Ok(Value::String(v))
    }

    fn visit_unit<E: de::Error>(mut self) -> Result<Value, E> {
        self.spend(0)?;
        Ok(Value::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        self.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<Value, A::Error> {
        self.spend(0)?;
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(self.nested())? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<Value, A::Error> {
        self.spend(0)?;
        let mut fields = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            self.spend(key.len())?;
            refuse_nul(&key)?;
            let value = map.next_value_seed(self.nested())?;
            fields.insert(key, value);
        }
        Ok(Value::Object(fields))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decodes_like_serde_json() {
        let text = r#"{"a": [1, -2, 2.5, "x", null, true, {"b": {}}], "c": "é"}"#;
        assert_eq!(
            json(text).unwrap().unwrap(),
            serde_json::from_str::<Value>(text).unwrap()
        );
        let yaml_text = "a: [1, x]\nb:\n  c: null\n";
        assert_eq!(
            yaml(yaml_text).unwrap().unwrap(),
            json!({"a": [1, "x"], "b": {"c": null}})
        );
        assert!(
            json("{\"a\": ").unwrap().is_err(),
            "malformed is not a limit"
        );
        assert!(json("{} {}").unwrap().is_err(), "trailing text");
    }

    #[test]
    fn aliases_cannot_expand_past_the_limits() {
        // One anchor of 100 items, aliased 1,000 times: 100,000 values from 6 KB.
        let mut text = String::from("a: &x [");
        text.push_str(&vec!["1"; 100].join(","));
        text.push_str("]\nb: [");
        text.push_str(&vec!["*x"; 1_000].join(","));
        text.push_str("]\n");
        let err = yaml(&text).unwrap_err();
        assert!(err.to_string().contains("more than 10000 values"), "{err}");
        // A long string aliased many times: text bytes.
        let long = "y".repeat(100_000);
        let text = format!("a: &s {long}\nb: [{}]\n", vec!["*s"; 50].join(","));
        let err = yaml(&text).unwrap_err();
        assert!(err.to_string().contains("bytes of text"), "{err}");
    }

    #[test]
    fn deep_and_large_bodies_are_refused() {
        let deep = format!("{}{}", "[".repeat(40), "]".repeat(40));
        assert!(json(&deep).unwrap_err().to_string().contains("nested"));
        let many = format!("[{}]", vec!["0"; 10_001].join(","));
        assert!(json(&many).is_err());
        let big = format!("a: {}", "z".repeat(MAX_FRONT_MATTER_BYTES));
        assert!(yaml(&big).unwrap_err().to_string().contains("front-matter"));
    }
}
