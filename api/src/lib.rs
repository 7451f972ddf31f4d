//! Pinchwork's API contract, shared by the server, the client, the MCP server and the CLI:
//! the wire types ([`types`]) with their lenient decoders ([`lax`]) and portable JSON Schemas
//! ([`schema`]), the typed events in their one JSON shape ([`events`]), the query types of the
//! list endpoints ([`query`]), the limits of every input ([`limits`]), the checks every surface
//! applies alike ([`validate`]), and what each operation does ([`ops`]).

pub mod events;
pub mod lax;
pub mod limits;
pub mod ops;
pub mod query;
pub mod schema;
pub mod types;
pub mod validate;
