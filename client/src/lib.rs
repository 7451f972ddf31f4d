//! Pinchwork's wire types ([`types`]), their lenient decoders ([`lax`]), a typed async
//! client for the HTTP API ([`client`]), its live event stream ([`events`]) and the checks of
//! a server's base URL ([`server_url`]), and what each operation does ([`ops`]).

pub mod client;
pub mod events;
pub mod lax;
pub mod ops;
pub mod server_url;
pub mod types;

pub use client::{Client, ClientError};
