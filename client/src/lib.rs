//! Pinchwork's wire types ([`types`]), their lenient decoders ([`lax`]) and portable JSON
//! Schemas ([`schema`]), a typed async client for the HTTP API ([`client`]) and its live event
//! stream ([`events`]).

pub mod client;
pub mod events;
pub mod lax;
pub mod schema;
pub mod types;

pub use client::{Client, ClientError};
