//! Pinchwork's wire types ([`types`]), their lenient decoders ([`lax`]) and portable JSON
//! Schemas ([`schema`]), the limits of every input ([`limits`]), a typed async client for the
//! HTTP API ([`client`]), its live event stream ([`events`]), the checks of a server's base
//! URL ([`server_url`]), what each operation does ([`ops`]), and the credentials file the CLI
//! and the MCP server share ([`credentials`]).

pub mod client;
pub mod credentials;
pub mod events;
pub mod lax;
pub mod limits;
pub mod ops;
pub mod schema;
pub mod server_url;
pub mod types;

pub use client::{Client, ClientError};
