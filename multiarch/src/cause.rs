//! The bottom of every error chain: a cause from below this crate (a transport, the file
//! system, a parser), kept whole, and its innermost words. Every layer's error type uses
//! it, so it depends on nothing of the crate.

/// A cause from below this crate, kept whole so the command line can print its chain as
/// "caused by:" lines.
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The innermost cause of an error: the words of the system call or the server, without
/// the layers of context each library wraps around them.
pub fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}
