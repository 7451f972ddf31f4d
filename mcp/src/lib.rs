//! `pinchwork-mcp`: the Pinchwork marketplace as an MCP server.
//!
//! Every tool is one call of the typed client ([`pinchwork_client::Client`]), so the MCP
//! surface and the HTTP API cannot disagree: inputs are the API's request types, outputs are
//! its response types as structured content, and API failures come back as tool results with
//! `isError` and the server's message.

pub mod args;
pub mod doctor;
pub mod http;
pub mod prompts;
pub mod resources;
pub mod server;
pub mod settings;
pub mod stdio;
pub mod subscriptions;

/// The credentials file the `pinchwork` CLI writes (the client crate's, so the same format).
pub use pinchwork_client::credentials;

pub use server::PinchworkMcp;
pub use settings::Settings;
