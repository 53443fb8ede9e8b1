//! What can go wrong talking to a registry: the registry layer's own failures, each with
//! the values a person needs to act on them. The crate's [`Error`](crate::error::Error)
//! wraps them whole, so a command's message and its `hint:` are the same whichever layer
//! it came through.

use crate::error::Cause;

/// A registry failure.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The registry could not be reached at all.
    #[error("cannot reach the registry `{registry}`")]
    Unreachable {
        /// host[:port].
        registry: String,
        /// The transport error.
        #[source]
        source: Cause,
    },
    /// HTTPS was used but the registry speaks plain HTTP.
    #[error("cannot reach `{registry}` over HTTPS: it answers plain HTTP")]
    HttpOnly {
        /// host[:port].
        registry: String,
    },
    /// The registry has no manifest under that reference.
    #[error("`{reference}` was not found in the registry")]
    NotFound {
        /// The reference asked for.
        reference: String,
    },
    /// The registry refused our credentials, or wants some.
    #[error("the registry refused access to `{reference}` ({status})")]
    Unauthorized {
        /// The reference asked for.
        reference: String,
        /// The HTTP status.
        status: u16,
    },
    /// The registry's TLS certificate is not trusted (or not valid for its name).
    #[error("the certificate of `{registry}` is not trusted: {reason}")]
    Certificate {
        /// host:port.
        registry: String,
        /// The verifier's words.
        reason: String,
    },
    /// A registry answer that says "not now" (408, 429, 5xx): worth another try.
    #[error("the registry answered `{reference}` with HTTP {status}")]
    Transient {
        /// The reference asked for.
        reference: String,
        /// The HTTP status.
        status: u16,
        /// How long the registry asked to wait (`Retry-After`).
        retry_after: Option<std::time::Duration>,
    },
    /// A request kept failing transiently until its tries or time ran out.
    #[error(transparent)]
    GaveUp(super::retry::GaveUp<RegistryError>),
    /// The registry answered something this tool cannot use.
    #[error("the registry answered `{reference}` with something unusable: {reason}")]
    BadAnswer {
        /// The reference asked for.
        reference: String,
        /// What was wrong with it.
        reason: String,
    },
    /// Content whose digest is not the one it was asked for.
    #[error("`{reference}`: the content's digest is not `{expected}`; refusing it")]
    DigestMismatch {
        /// The reference asked for.
        reference: String,
        /// The digest expected.
        expected: String,
    },
    /// A temporary file for a large layer cannot be written.
    #[error("cannot keep {what} in a temporary file")]
    Scratch {
        /// What was to be kept: `the layer sha256:...`.
        what: String,
        /// The file system's error.
        #[source]
        source: std::io::Error,
    },
}

/// Shorthand for results of the registry layer.
pub type Result<T, E = RegistryError> = std::result::Result<T, E>;
