//! The `arch-server` cases of the bad-input corpus (`tests/bad-input/corpus.toml`):
//! flags, environment and configuration file.

#[path = "bad-input/harness.rs"]
mod harness;

use std::collections::HashMap;
use std::path::PathBuf;

#[test]
fn every_bad_input_gets_a_clear_message_and_exit_code() {
    let corpus = harness::load(&PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_arch-server"));
    let (count, failures) = harness::run(&corpus, "arch-server", &binary, &HashMap::new());
    assert!(count >= 15, "only {count} arch-server cases in the corpus");
    assert!(
        failures.is_empty(),
        "{} of {count} cases:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
