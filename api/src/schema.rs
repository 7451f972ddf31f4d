//! The JSON Schemas of the wire types as every client reads them: plain JSON Schema 2020-12,
//! applied in one place to the MCP tool schemas and to `/openapi.json` (OpenAPI 3.1, whose
//! schemas are 2020-12).
//!
//! - Only the formats 2020-12 defines: schemars adds `uint`, `int64`, `double`…, which strict
//!   validators (Ajv strict, the TypeScript SDK) refuse or warn about on every listing.
//! - Nullable, the portable way: an answer's field that may be null is `"type": [T, "null"]`
//!   (or `anyOf` a `$ref` and `{"type": "null"}`); an optional field of a request is simply
//!   not required, with its plain type (null is still accepted, but not advertised, so tool
//!   schema converters that know no type unions read it too).

use schemars::Schema;
use schemars::transform::{Transform, transform_subschemas};
use serde_json::{Map, Value};

/// The `$schema` of every published schema.
pub const DIALECT: &str = "https://json-schema.org/draft/2020-12/schema";

/// The formats JSON Schema 2020-12 defines (Validation, section 7.3).
pub const STANDARD_FORMATS: [&str; 19] = [
    "date-time",
    "date",
    "time",
    "duration",
    "email",
    "idn-email",
    "hostname",
    "idn-hostname",
    "ipv4",
    "ipv6",
    "uri",
    "uri-reference",
    "iri",
    "iri-reference",
    "uuid",
    "uri-template",
    "json-pointer",
    "relative-json-pointer",
    "regex",
];

/// Drops every `format` 2020-12 does not define, in a schema and all its subschemas.
#[derive(Debug, Clone, Copy, Default)]
pub struct StandardFormats;

impl Transform for StandardFormats {
    fn transform(&mut self, schema: &mut Schema) {
        if let Some(obj) = schema.as_object_mut()
            && obj
                .get("format")
                .is_some_and(|f| !f.as_str().is_some_and(|f| STANDARD_FORMATS.contains(&f)))
        {
            obj.remove("format");
        }
        transform_subschemas(self, schema);
    }
}

/// [`StandardFormats`] on a schema held as JSON (e.g. a tool schema rmcp generated).
pub fn standard_formats(schema: &mut Map<String, Value>) {
    let mut owned = Schema::from(std::mem::take(schema));
    StandardFormats.transform(&mut owned);
    if let Value::Object(map) = owned.to_value() {
        *schema = map;
    }
}

/// For what a client sends (a request body, tool arguments): each property of this object
/// schema that is not required loses `null` from its type, and a `null` default.
pub fn optional_not_null(schema: &mut Map<String, Value>) {
    let required: Vec<String> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| {
            r.iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) else {
        return;
    };
    for (name, prop) in props.iter_mut() {
        if required.contains(name) {
            continue;
        }
        if let Some(p) = prop.as_object_mut() {
            not_null(p);
        }
    }
}

fn not_null(p: &mut Map<String, Value>) {
    if p.get("default").is_some_and(Value::is_null) {
        p.remove("default");
    }
    if let Some(Value::Array(types)) = p.get_mut("type") {
        types.retain(|t| t != "null");
        if types.len() == 1 {
            let single = types.remove(0);
            p.insert("type".into(), single);
        }
    }
    if let Some(Value::Array(enumeration)) = p.get_mut("enum") {
        enumeration.retain(|v| !v.is_null());
    }
    let Some(Value::Array(branches)) = p.get_mut("anyOf") else {
        return;
    };
    branches.retain(|b| b.get("type").is_none_or(|t| t != "null"));
    if branches.len() == 1 {
        let Some(Value::Object(only)) = branches.pop() else {
            return;
        };
        p.remove("anyOf");
        for (k, v) in only {
            p.entry(k).or_insert(v);
        }
    }
}

/// The keywords of JSON Schema 2020-12 (core, applicator, unevaluated, validation, meta-data,
/// format-annotation and content vocabularies).
pub const KEYWORDS_2020_12: [&str; 59] = [
    "$schema",
    "$id",
    "$ref",
    "$anchor",
    "$dynamicRef",
    "$dynamicAnchor",
    "$vocabulary",
    "$comment",
    "$defs",
    "prefixItems",
    "items",
    "contains",
    "additionalProperties",
    "properties",
    "patternProperties",
    "dependentSchemas",
    "propertyNames",
    "if",
    "then",
    "else",
    "allOf",
    "anyOf",
    "oneOf",
    "not",
    "unevaluatedItems",
    "unevaluatedProperties",
    "type",
    "const",
    "enum",
    "multipleOf",
    "maximum",
    "exclusiveMaximum",
    "minimum",
    "exclusiveMinimum",
    "maxLength",
    "minLength",
    "pattern",
    "maxItems",
    "minItems",
    "uniqueItems",
    "maxContains",
    "minContains",
    "maxProperties",
    "minProperties",
    "required",
    "dependentRequired",
    "title",
    "description",
    "default",
    "deprecated",
    "readOnly",
    "writeOnly",
    "examples",
    "format",
    "contentEncoding",
    "contentMediaType",
    "contentSchema",
    "definitions",
    "dependencies",
];

/// Where a schema uses a keyword 2020-12 does not define (`nullable`, `example`…), as
/// `path/keyword`: what strict validators such as Ajv refuse.
pub fn unknown_keywords(schema: &Value) -> Vec<String> {
    let mut found = Vec::new();
    walk_keywords(schema, "#", &mut found);
    found
}

fn walk_keywords(schema: &Value, path: &str, found: &mut Vec<String>) {
    let Some(obj) = schema.as_object() else {
        return;
    };
    for (key, value) in obj {
        let here = format!("{path}/{key}");
        if !KEYWORDS_2020_12.contains(&key.as_str()) {
            found.push(here.clone());
            continue;
        }
        match key.as_str() {
            "properties" | "patternProperties" | "$defs" | "definitions" | "dependentSchemas" => {
                for (name, sub) in value.as_object().into_iter().flatten() {
                    walk_keywords(sub, &format!("{here}/{name}"), found);
                }
            }
            "prefixItems" | "allOf" | "anyOf" | "oneOf" => {
                for (i, sub) in value.as_array().into_iter().flatten().enumerate() {
                    walk_keywords(sub, &format!("{here}/{i}"), found);
                }
            }
            "items"
            | "contains"
            | "additionalProperties"
            | "propertyNames"
            | "if"
            | "then"
            | "else"
            | "not"
            | "unevaluatedItems"
            | "unevaluatedProperties"
            | "contentSchema" => walk_keywords(value, &here, found),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    #[test]
    fn keywords_outside_2020_12_are_found_where_they_are() {
        let s = json!({
            "type": "object",
            "properties": {"a": {"type": "string", "nullable": true}, "nullable": {"type": "integer"}},
            "$defs": {"B": {"anyOf": [{"example": 1}]}},
            "default": {"nullable": true},
        });
        assert_eq!(
            unknown_keywords(&s),
            ["#/$defs/B/anyOf/0/example", "#/properties/a/nullable"]
        );
    }

    #[test]
    fn only_standard_formats_are_kept() {
        let mut s = obj(json!({
            "type": "object",
            "properties": {
                "n": {"type": "integer", "format": "uint64", "minimum": 0},
                "at": {"type": "string", "format": "date-time"},
                "list": {"type": "array", "items": {"type": "number", "format": "double"}},
            },
            "$defs": {"X": {"anyOf": [{"type": "integer", "format": "int64"}, {"type": "null"}]}},
        }));
        standard_formats(&mut s);
        assert_eq!(
            s["properties"]["n"],
            json!({"type": "integer", "minimum": 0})
        );
        assert_eq!(s["properties"]["at"]["format"], "date-time");
        assert_eq!(s["properties"]["list"]["items"], json!({"type": "number"}));
        assert_eq!(s["$defs"]["X"]["anyOf"][0], json!({"type": "integer"}));
    }

    #[test]
    fn optional_inputs_lose_null_and_required_ones_are_kept() {
        let mut s = obj(json!({
            "type": "object",
            "required": ["keep"],
            "properties": {
                "keep": {"type": ["string", "null"]},
                "s": {"type": ["string", "null"], "default": null, "description": "d"},
                "r": {"anyOf": [{"$ref": "#/$defs/R"}, {"type": "null"}], "description": "d"},
                "e": {"type": ["string", "null"], "enum": ["a", null]},
            },
        }));
        optional_not_null(&mut s);
        assert_eq!(s["properties"]["keep"]["type"], json!(["string", "null"]));
        assert_eq!(
            s["properties"]["s"],
            json!({"type": "string", "description": "d"})
        );
        assert_eq!(
            s["properties"]["r"],
            json!({"$ref": "#/$defs/R", "description": "d"})
        );
        assert_eq!(
            s["properties"]["e"],
            json!({"type": "string", "enum": ["a"]})
        );
    }
}
