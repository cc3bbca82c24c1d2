//! The server's API, process and deployment suites, in one test binary: each module was its own
//! binary linking the whole server, and eighteen copies of it filled the disk of a CI run.
//! Run one suite with `cargo test -p chatsync-server --test api <module>::`, for example
//! `cargo test -p chatsync-server --test api search::`.
#![allow(clippy::unwrap_used)] // tests: a panic is a failure with its message

mod auth_api;
mod authz;
mod chat;
mod clients;
mod contracts;
mod deploy_files;
mod fuzz_corpus;
mod http_limits;
mod media;
mod mentions;
mod multinode;
mod observability;
mod offline;
mod openapi;
mod previews;
mod processes;
mod read_receipts;
mod replies;
mod search;
