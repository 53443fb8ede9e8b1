//! `#[engine_test]`, for the tests that need the real Docker engine: it puts on a test the
//! two attributes each of them carried by hand, so the reason a plain `cargo test` skips
//! them and the runtime they run on are said once.
//!
//! - `#[ignore = "needs Docker: ..."]`: a plain `cargo test` reports such a test as
//!   ignored, never as passed; `scripts/test.sh` (the README's test command) brings the
//!   engine up and runs them with `--include-ignored`, where an engine that cannot be
//!   reached fails them.
//! - `#[tokio::test(flavor = "multi_thread", worker_threads = 2)]`: the CLI and the
//!   engine's answers are awaited side by side.
//!
//! It takes no arguments and leaves the function as it is (rustfmt formats it as any
//! other), so it needs no parser: the attributes are put in front of the item's tokens.

use proc_macro::TokenStream;

const ATTRIBUTES: &str = r#"
    #[ignore = "needs Docker: `scripts/test.sh` brings the engine up and runs it"]
    #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
"#;

/// Marks an `async fn` as a test against the real engine (see the crate's documentation).
///
/// Given arguments, it expands to a compile error: there are none to give.
#[proc_macro_attribute]
pub fn engine_test(arguments: TokenStream, item: TokenStream) -> TokenStream {
    if !arguments.is_empty() {
        return r##"compile_error!("#[engine_test] takes no arguments");"##
            .parse()
            .expect("a compile_error! invocation parses");
    }
    let attributes: TokenStream = ATTRIBUTES.parse().expect("the attributes parse");
    attributes.into_iter().chain(item).collect()
}
