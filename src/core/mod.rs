//! Pure domain logic: no `worker` imports, tested on the host with `cargo test`.

pub mod body;
pub mod catalogue;
pub mod ceilings;
pub mod constraints;
pub mod currency;
pub mod duration;
pub mod email;
pub mod endpoint;
pub mod form;
pub mod mcp;
pub mod money;
#[cfg(test)]
mod proptests;
pub mod sms;
pub mod time;
pub mod token;
pub mod trace;
pub mod webhook;
