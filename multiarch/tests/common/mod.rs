//! What the integration tests share, one file per job:
//! - [`bed`]: the test bed (the engine, a test's run id and labels, its clean-up) and the
//!   turns some tests take;
//! - [`fixtures`]: what tests only read, made once per run and shared (a registry,
//!   `dist/`, the eight-platform image, the CLI image);
//! - [`cli`]: running `multiarch` and reading its output;
//! - [`checkout`]: copies of this checkout (a newcomer's clone, a release's checkout);
//! - [`images`]: images and contexts the tests build, push and run;
//! - [`nodes`], [`ssh_host`], [`tls_buildkit`], [`stores`]: second engines, an sshd in
//!   front of one, a BuildKit behind TLS, a test's own buildx store;
//! - [`http`], [`fault_proxy`]: loopback HTTP, and a proxy that injects faults.
//!
//! Engine tests carry `#[engine_test]`: a plain `cargo test` reports them as ignored,
//! never as passed, and `scripts/test.sh` (the README's test command, which CI runs)
//! brings the engine up and runs them with `--include-ignored`, where an engine that
//! cannot be reached fails them.

// Each test module uses some of these helpers; the test binary as a whole uses them all,
// but rustc judges each item by the modules that name it.
#![allow(dead_code)]

pub mod bed;
pub mod checkout;
pub mod cli;
pub mod fault_proxy;
pub mod fixtures;
pub mod http;
pub mod images;
pub mod nodes;
pub mod ssh_host;
mod stores;
mod tls_buildkit;

pub use bed::{RUN_LABEL, TestBed, Turn, testbed, testbed_taking, testbed_with_registry};
pub use cli::{base64, multiarch, multiarch_with, output, redact, row, test_env};
pub use fixtures::{
    EIGHT_PLATFORMS, busybox, cli_image, dist, eight_platform_image, shared_registry,
};
pub use http::{free_port, http_get, wait_for_http};
pub use images::*;
pub use multiarch_test_macros::engine_test;
pub use nodes::{SecondNode, build_cut_off};
pub use ssh_host::SshHost;
pub use stores::Stores;
pub use tls_buildkit::TlsDaemon;

use std::path::PathBuf;

/// The repository root (the workspace), where the Dockerfile and scripts live.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}
