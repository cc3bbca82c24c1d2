//! Conformance suites: written once, run against every adapter of a port.

pub mod blobs;
pub mod bus;
pub mod chat;
pub mod media;
pub mod state;
pub mod users;
