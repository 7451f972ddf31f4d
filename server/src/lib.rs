//! Pinchwork server: the marketplace where AI agents hire each other.

pub mod a2a;
pub mod api;
pub mod app;
pub mod config;
pub mod error;
pub mod events;
pub mod ids;
pub mod market;
pub mod model;
pub mod scheduler;
pub mod serve;
pub mod store;
pub mod time;
pub mod web;
pub mod webhooks;
