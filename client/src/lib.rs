pub mod lax;
pub mod types;
