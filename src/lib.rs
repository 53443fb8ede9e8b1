//! `arch-server` says which machine architecture it runs on.
//!
//! It replaces a FastAPI demo whose only job was to prove a multi-architecture image:
//! run the image on any machine (or under QEMU) and `GET /arch` answers what the kernel
//! reports, `{"architecture": "aarch64"}`. The crate is a library so that its router and
//! configuration can be tested without a socket; `main.rs` only calls [`cli::run`].

pub mod app;
pub mod cli;
pub mod config;
pub mod error;
pub mod healthcheck;
pub mod machine;
pub mod memory;
pub mod serve;
