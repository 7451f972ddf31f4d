//! A typed async client for the Pinchwork HTTP API ([`client`]), its live event stream
//! ([`events`]), the checks of a server's base URL ([`server_url`]) and the credentials file
//! the CLI and the MCP server share ([`credentials`]). The API contract it speaks (wire
//! types, query types, limits, validators, operations) is `pinchwork-api`'s, re-exported here
//! so that users of the client need one dependency.

pub mod client;
pub mod credentials;
pub mod events;
pub mod server_url;

pub use client::{Client, ClientError};
pub use pinchwork_api::{lax, limits, ops, query, schema, types, validate};
