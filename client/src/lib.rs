//! Pinchwork's wire types ([`types`]), their lenient decoders ([`lax`]) and a typed async
//! client for the HTTP API ([`client`]).

pub mod client;
pub mod lax;
pub mod types;

pub use client::{Client, ClientError};
