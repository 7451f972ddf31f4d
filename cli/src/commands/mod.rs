//! The commands, one module each: its arguments and what it runs.

pub mod account;
pub mod admin;
pub mod agents;
pub mod events;
pub mod login;
pub mod me;
pub mod profiles;
pub mod register;
pub mod tasks;

/// Paging, for the commands that list (credits, tasks, agents): the API's own query type.
pub use pinchwork_api::query::Page;
