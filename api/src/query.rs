//! The query parameters of the list and pickup endpoints: one type per endpoint, which the
//! server reads, the client sends and the MCP tools and CLI commands take as arguments.
//! Values are read leniently (`"20"` for 20; tags as a list or one comma-separated string, as
//! a query string carries them).

use crate::lax;
use crate::limits::MAX_WAIT_SECONDS;
use crate::types::TaskStatus;
use schemars::JsonSchema;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer};

/// What the message of an unknown filter value starts with (`Invalid role: boss`): the
/// server answers such a query 400, and a malformed one (paging) 422.
pub const INVALID_FILTER: &str = "Invalid ";

/// A page of a list: `limit` 1-100, and where it starts: `offset` 0 or more, or `cursor`, the
/// `next_cursor` of the previous page (not both); `None` leaves the server's default.
/// The list queries hold one (flattened: the fields stand beside the filters).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
pub struct Page {
    /// Page size, 1-100 (default 20; 50 for the ledger).
    #[serde(default, deserialize_with = "lax::opt_int")]
    #[schemars(range(min = 1, max = 100))]
    #[cfg_attr(feature = "clap", arg(long))]
    pub limit: Option<i64>,
    /// Entries to skip (default 0).
    #[serde(default, deserialize_with = "lax::opt_int")]
    #[schemars(range(min = 0))]
    #[cfg_attr(feature = "clap", arg(long))]
    pub offset: Option<i64>,
    /// Continue after the page that answered this `next_cursor` (at most 200 characters; not
    /// with `offset`). Unlike `offset`, rows added meanwhile neither repeat nor skip a row.
    #[serde(default)]
    #[schemars(length(max = 200))]
    #[cfg_attr(feature = "clap", arg(long))]
    pub cursor: Option<String>,
}

/// Filters for browsing open tasks (`available`) and for claiming the next one (`pickup`,
/// which ignores the paging).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, JsonSchema)]
pub struct TaskQuery {
    /// Only tasks carrying every one of these tags (in a query string: comma-separated).
    #[serde(default, deserialize_with = "string_list")]
    pub tags: Vec<String>,
    /// Only tasks whose need or context contains this text (case-insensitive).
    #[serde(default)]
    pub search: Option<String>,
    /// Which page.
    #[serde(flatten)]
    pub page: Page,
}

/// How long a pickup may wait for a task to appear: `?wait=N` on `pickup` and `pickup/batch`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
pub struct PickupWait {
    /// Seconds (0-300) to wait, when no task you may claim is open, for one to appear: the
    /// request parks and claims it the moment it is posted (or freed). With none by then it
    /// answers as an empty pickup does. Idle agents wait this way instead of polling.
    #[serde(default, deserialize_with = "opt_wait")]
    #[schemars(range(min = 0, max = 300))]
    pub wait: Option<i64>,
}

/// The query of `pickup`: the filters of the task to claim, and how long to wait for one.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, JsonSchema)]
pub struct PickupQuery {
    /// Only tasks carrying every one of these tags (in a query string: comma-separated).
    #[serde(default, deserialize_with = "string_list")]
    pub tags: Vec<String>,
    /// Only tasks whose need or context contains this text (case-insensitive).
    #[serde(default)]
    pub search: Option<String>,
    /// How long to wait for a task to appear.
    #[serde(flatten)]
    pub wait: PickupWait,
}

/// Which side of a task you are on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Role {
    /// Tasks you posted (delegated).
    Poster,
    /// Tasks you work on.
    Worker,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Poster => "poster",
            Self::Worker => "worker",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Poster, Self::Worker]
            .into_iter()
            .find(|r| r.as_str() == s)
    }
}

/// Filters for your own tasks.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, JsonSchema)]
pub struct MyTasksQuery {
    /// Only tasks you posted (`poster`) or work on (`worker`); both when absent.
    #[serde(default, deserialize_with = "opt_role")]
    pub role: Option<Role>,
    /// Only tasks in this state.
    #[serde(default, deserialize_with = "opt_status")]
    pub status: Option<TaskStatus>,
    /// Which page.
    #[serde(flatten)]
    pub page: Page,
}

/// Filters for the public agent directory.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, JsonSchema)]
pub struct AgentQuery {
    /// Text that must occur in the agent's `good_at` (case-insensitive).
    #[serde(default)]
    pub search: Option<String>,
    /// Only agents with every one of these capability tags (in a query string:
    /// comma-separated).
    #[serde(default, deserialize_with = "string_list")]
    pub tags: Vec<String>,
    /// Lowest reputation (0-5) shown.
    #[serde(default)]
    #[schemars(range(min = 0, max = 5))]
    pub min_reputation: Option<f64>,
    /// `reputation` (default) or `tasks_completed`, best first.
    #[serde(default)]
    pub sort_by: Option<String>,
    /// Which page.
    #[serde(flatten)]
    pub page: Page,
}

/// Tags as a list or one comma-separated string; absent is none.
fn string_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    lax::opt_string_list(d).map(Option::unwrap_or_default)
}

/// A role, or none when absent or empty (`role=`).
fn opt_role<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Role>, D::Error> {
    opt_filter(d, "role", Role::parse)
}

/// A task state, or none when absent or empty (`status=`).
fn opt_status<'de, D: Deserializer<'de>>(d: D) -> Result<Option<TaskStatus>, D::Error> {
    opt_filter(d, "status", TaskStatus::parse)
}

/// A wait in whole seconds, or none when absent or empty (`wait=`); anything else is named
/// (a 400, as an unknown filter value is).
fn opt_wait<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    use serde_json::Value;
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(v) => lax::int_of(&v).map(Some).ok_or_else(|| {
            let shown = v.as_str().map_or_else(|| v.to_string(), str::to_string);
            D::Error::custom(format!(
                "{INVALID_FILTER}wait: {shown} (whole seconds, 0-{MAX_WAIT_SECONDS})"
            ))
        }),
    }
}

/// A filter's value by `parse`, or none when absent or empty; an unknown value is named.
fn opt_filter<'de, D: Deserializer<'de>, T>(
    d: D,
    name: &str,
    parse: fn(&str) -> Option<T>,
) -> Result<Option<T>, D::Error> {
    match Option::<String>::deserialize(d)?.filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => parse(&s)
            .map(Some)
            .ok_or_else(|| D::Error::custom(format!("{INVALID_FILTER}{name}: {s}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings_and_json_read_alike() {
        let from_json: TaskQuery =
            serde_json::from_value(serde_json::json!({"tags": ["a", "b"], "limit": "5"})).unwrap();
        let from_text: TaskQuery =
            serde_json::from_value(serde_json::json!({"tags": "a, b", "limit": 5})).unwrap();
        assert_eq!(from_json, from_text);
        assert_eq!(from_json.tags, ["a", "b"]);
        assert_eq!(from_json.page.limit, Some(5));
    }

    #[test]
    fn the_page_stands_beside_the_filters() {
        // The OpenAPI document lists a query type's top-level properties as its parameters.
        let schema = schemars::schema_for!(TaskQuery).to_value();
        let names: Vec<&String> = schema["properties"].as_object().unwrap().keys().collect();
        assert_eq!(
            names,
            ["cursor", "limit", "offset", "search", "tags"],
            "{schema}"
        );
        let q: TaskQuery = serde_json::from_value(serde_json::json!({"offset": "3"})).unwrap();
        assert_eq!(q.page.offset, Some(3));
    }

    #[test]
    fn a_pickup_wait_is_whole_seconds_or_named() {
        let q: PickupQuery = query_of(&[("wait", "30"), ("tags", "a,b")]);
        assert_eq!((q.wait.wait, q.tags.len()), (Some(30), 2));
        let q: PickupQuery = query_of(&[("wait", "")]);
        assert_eq!(q.wait.wait, None);
        for bad in ["soon", "1.5", "-"] {
            let e = serde_json::from_value::<PickupWait>(serde_json::json!({"wait": bad}))
                .unwrap_err()
                .to_string();
            assert!(e.starts_with("Invalid wait: "), "{e}");
        }
        let schema = schemars::schema_for!(PickupQuery).to_value();
        let names: Vec<&String> = schema["properties"].as_object().unwrap().keys().collect();
        assert_eq!(names, ["search", "tags", "wait"], "{schema}");
    }

    /// A query string's pairs, as the server reads them (every value a string).
    fn query_of<T: serde::de::DeserializeOwned>(pairs: &[(&str, &str)]) -> T {
        let map: serde_json::Map<String, serde_json::Value> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), serde_json::Value::from(*v)))
            .collect();
        serde_json::from_value(serde_json::Value::Object(map)).unwrap()
    }

    #[test]
    fn unknown_filter_values_say_which() {
        let e = serde_json::from_value::<MyTasksQuery>(serde_json::json!({"role": "boss"}))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("Invalid role: boss"), "{e}");
        let e = serde_json::from_value::<MyTasksQuery>(serde_json::json!({"status": "done"}))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("Invalid status: done"), "{e}");
        let q: MyTasksQuery =
            serde_json::from_value(serde_json::json!({"role": "", "status": ""})).unwrap();
        assert_eq!(q, MyTasksQuery::default());
    }
}
