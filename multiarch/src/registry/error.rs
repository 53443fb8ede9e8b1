//! What can go wrong talking to a registry: the registry layer's own failures, each with
//! the values a person needs to act on them. The crate's `Error` (`error.rs`)
//! wraps them whole, so a command's message and its `hint:` are the same whichever layer
//! it came through.

use crate::cause::Cause;

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
    /// The registry's name does not resolve (a typo, no DNS, no network at all): an answer,
    /// not a failure worth another try.
    #[error("the registry's name `{registry}` does not resolve")]
    UnknownHost {
        /// host[:port].
        registry: String,
        /// The resolver's words.
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
    GaveUp(crate::retry::GaveUp<RegistryError>),
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

impl RegistryError {
    /// A transport failure on the way to `registry`: [`RegistryError::UnknownHost`] when
    /// the name did not resolve, else [`RegistryError::Unreachable`].
    pub(crate) fn unreachable(registry: &str, source: Cause) -> Self {
        let registry = registry.to_string();
        if name_not_resolved(source.as_ref()) {
            Self::UnknownHost { registry, source }
        } else {
            Self::Unreachable { registry, source }
        }
    }
}

/// Whether a transport error's chain is the resolver's "no such name". hyper's connector
/// says `dns error` around getaddrinfo's own words, which are the only trace the name
/// leaves (the error's kind is `Other`).
fn name_not_resolved(error: &(dyn std::error::Error + 'static)) -> bool {
    const RESOLVER_WORDS: [&str; 5] = [
        "dns error",
        "failed to lookup address information",
        "Name or service not known",
        "No address associated with hostname",
        "Temporary failure in name resolution",
    ];
    let mut cause = Some(error);
    while let Some(current) = cause {
        let text = current.to_string();
        if RESOLVER_WORDS.iter().any(|words| text.contains(words)) {
            return true;
        }
        cause = current.source();
    }
    false
}

/// Shorthand for results of the registry layer.
pub type Result<T, E = RegistryError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    /// `.invalid` never resolves (RFC 6761), so the resolver answers at once, with or
    /// without a network.
    #[tokio::test]
    async fn a_name_that_does_not_resolve_is_said_so_and_not_retried() {
        crate::http::install_crypto_provider();
        let error = reqwest::Client::new()
            .get("http://registry.nothing.invalid/v2/")
            .send()
            .await
            .expect_err("a name under .invalid does not resolve");
        let error = RegistryError::unreachable("registry.nothing.invalid", error.into());
        assert!(
            matches!(&error, RegistryError::UnknownHost { registry, .. } if registry == "registry.nothing.invalid"),
            "{error:?}"
        );
        assert_eq!(super::super::retry::transient(&error), None);
    }

    #[tokio::test]
    async fn a_refused_connection_stays_unreachable_and_is_retried() {
        // A port nothing listens on: bound, then released.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        crate::http::install_crypto_provider();
        let error = reqwest::Client::new()
            .get(format!("http://127.0.0.1:{port}/v2/"))
            .send()
            .await
            .expect_err("nothing listens there");
        let error = RegistryError::unreachable(&format!("127.0.0.1:{port}"), error.into());
        assert!(
            matches!(error, RegistryError::Unreachable { .. }),
            "{error:?}"
        );
        assert!(super::super::retry::transient(&error).is_some());
    }
}
