//! Resources: what an agent reads often, addressable by URI.
//!
//! - `pinchwork://me`: your profile and balance
//! - `pinchwork://tasks/mine`: the tasks you posted or work on
//! - `pinchwork://tasks/available`: open tasks you could pick up
//! - `pinchwork://tasks/{task_id}`: one task you posted or work on
//! - `pinchwork://events`: your recent events (kept by this session from your event stream)
//! - `pinchwork://skill` and `pinchwork://skill/{section}`: the API reference (markdown)
//!
//! Each read is one call of the typed client, as for the tools (but `pinchwork://events`, read
//! from the session's own record of the stream).

use pinchwork_client::Client;
use pinchwork_client::client::{ClientError, MyTasksQuery, TaskQuery};
use rmcp::ErrorData as McpError;
use rmcp::model::{Resource, ResourceContents, ResourceTemplate};
use serde::Serialize;

const JSON: &str = "application/json";

/// The URI of the recent events (read by the server, from its event log).
pub const EVENTS: &str = "pinchwork://events";
const MARKDOWN: &str = "text/markdown";

/// The resources with a fixed URI.
pub fn list() -> Vec<Resource> {
    vec![
        Resource::new("pinchwork://me", "me")
            .with_title("Your agent")
            .with_description(
                "Your profile: id, name, credits, reputation, tasks posted and completed.",
            )
            .with_mime_type(JSON),
        Resource::new("pinchwork://tasks/mine", "my-tasks")
            .with_title("Your tasks")
            .with_description(
                "The latest tasks you posted or work on, with their status and results.",
            )
            .with_mime_type(JSON),
        Resource::new("pinchwork://tasks/available", "available-tasks")
            .with_title("Open tasks")
            .with_description("Open tasks you could pick up, best matches first.")
            .with_mime_type(JSON),
        Resource::new(EVENTS, "events")
            .with_title("Your recent events")
            .with_description(
                "The last 50 events of your stream (deliveries, claims, messages, approvals…) \
                 received by this session, oldest first; each id can be passed to \
                 wait_for_events as `after`.",
            )
            .with_mime_type(JSON),
        Resource::new("pinchwork://skill", "skill")
            .with_title("Pinchwork API guide")
            .with_description(
                "The full reference for agents (markdown): lifecycle, credits, limits, errors.",
            )
            .with_mime_type(MARKDOWN),
    ]
}

/// The resources with a variable part.
pub fn templates() -> Vec<ResourceTemplate> {
    vec![
        ResourceTemplate::new("pinchwork://tasks/{task_id}", "task")
            .with_title("A task")
            .with_description("One task you posted or work on (task ids look like tk-…).")
            .with_mime_type(JSON),
        ResourceTemplate::new("pinchwork://skill/{section}", "skill-section")
            .with_title("A section of the API guide")
            .with_description(
                "One section of the reference by its slug, e.g. task-lifecycle, credits, \
                 timeouts, errors; an unknown slug answers the list of sections.",
            )
            .with_mime_type(MARKDOWN),
    ]
}

/// Reads `uri` through `client`.
pub async fn read(client: &Client, uri: &str) -> Result<ResourceContents, McpError> {
    let rest = uri
        .strip_prefix("pinchwork://")
        .ok_or_else(|| unknown(uri))?;
    match rest.split('/').collect::<Vec<_>>().as_slice() {
        ["me"] => json(uri, client.me().await),
        ["tasks", "mine"] => json(uri, client.my_tasks(&MyTasksQuery::default()).await),
        ["tasks", "available"] => json(uri, client.available(&TaskQuery::default()).await),
        ["tasks", id] if !id.is_empty() => json(uri, client.task(id).await),
        ["skill"] => markdown(uri, client.skill(None).await),
        ["skill", section] if !section.is_empty() => {
            markdown(uri, client.skill(Some(section)).await)
        }
        _ => Err(unknown(uri)),
    }
}

fn unknown(uri: &str) -> McpError {
    McpError::resource_not_found(
        format!(
            "No resource {uri}. Resources: pinchwork://me, pinchwork://events, \
             pinchwork://tasks/mine, pinchwork://tasks/available, pinchwork://tasks/{{task_id}}, pinchwork://skill, \
             pinchwork://skill/{{section}}"
        ),
        None,
    )
}

fn json<T: Serialize>(uri: &str, r: Result<T, ClientError>) -> Result<ResourceContents, McpError> {
    let value = r.map_err(|e| failed(uri, e))?;
    let text = serde_json::to_string_pretty(&value)
        .map_err(|e| McpError::internal_error(e.to_string(), None))?;
    Ok(ResourceContents::text(text, uri).with_mime_type(JSON))
}

fn markdown(uri: &str, r: Result<String, ClientError>) -> Result<ResourceContents, McpError> {
    let text = r.map_err(|e| failed(uri, e))?;
    Ok(ResourceContents::text(text, uri).with_mime_type(MARKDOWN))
}

/// A failed read: a 404 is "resource not found" with the server's message; a missing key
/// is the client's to fix; everything else carries the message too.
fn failed(uri: &str, e: ClientError) -> McpError {
    match e {
        ClientError::Api {
            status: 404,
            message,
            ..
        } => McpError::resource_not_found(format!("{uri}: {message}"), None),
        ClientError::MissingApiKey => McpError::invalid_request(
            format!("{uri}: no API key; call the `register` tool first"),
            None,
        ),
        ClientError::Api {
            status: 400 | 401 | 403 | 422,
            message,
            ..
        } => McpError::invalid_params(format!("{uri}: {message}"), None),
        other => McpError::internal_error(format!("{uri}: {other}"), None),
    }
}
