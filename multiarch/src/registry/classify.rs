//! What a failed registry request means, as an error a person can act on: plain HTTP
//! where HTTPS was expected, a certificate not trusted, a 401, a missing manifest.

use oci_client::Reference;
use oci_client::errors::OciDistributionError;

use super::Registry;
use super::certs::{certificate_problem, chain_mentions_tls};
use super::error::RegistryError;

impl Registry {
    /// Turns a client error into one that says what to do.
    pub(super) fn classify(
        &self,
        reference: &Reference,
        error: OciDistributionError,
    ) -> RegistryError {
        let registry = reference.resolve_registry().to_string();
        let whole = reference.whole();
        match error {
            OciDistributionError::ImageManifestNotFoundError(_) => {
                RegistryError::NotFound { reference: whole }
            }
            OciDistributionError::ServerError { code: 404, .. } => {
                RegistryError::NotFound { reference: whole }
            }
            OciDistributionError::RegistryError { ref envelope, .. }
                if envelope.errors.iter().any(|e| {
                    matches!(
                        e.code,
                        oci_client::errors::OciErrorCode::ManifestUnknown
                            | oci_client::errors::OciErrorCode::NameUnknown
                            | oci_client::errors::OciErrorCode::NotFound
                    )
                }) =>
            {
                RegistryError::NotFound { reference: whole }
            }
            // A 4xx with an error envelope loses its status in oci-client; Docker Hub's
            // rate limit is such an answer.
            OciDistributionError::RegistryError { ref envelope, .. }
                if envelope.errors.iter().any(|e| {
                    matches!(e.code, oci_client::errors::OciErrorCode::Toomanyrequests)
                }) =>
            {
                RegistryError::Transient {
                    reference: whole,
                    status: 429,
                    retry_after: None,
                }
            }
            OciDistributionError::UnauthorizedError { .. }
            | OciDistributionError::AuthenticationFailure(_) => RegistryError::Unauthorized {
                reference: whole,
                status: 401,
            },
            OciDistributionError::ServerError { code, .. } if code == 401 || code == 403 => {
                RegistryError::Unauthorized {
                    reference: whole,
                    status: code,
                }
            }
            OciDistributionError::DigestError(_) => RegistryError::DigestMismatch {
                expected: reference.digest().unwrap_or("the one served").to_string(),
                reference: whole,
            },
            OciDistributionError::RequestError(e)
                if (e.is_connect() || e.is_timeout())
                    && !self.uses_http(&registry)
                    && chain_mentions_tls(&e) =>
            {
                RegistryError::HttpOnly { registry }
            }
            // The registry answered, with an HTTP error (oci-client's `error_for_status`).
            OciDistributionError::RequestError(e) if e.status().is_some() => {
                let status = e.status().map_or(0, |s| s.as_u16());
                match status {
                    401 | 403 => RegistryError::Unauthorized {
                        reference: whole,
                        status,
                    },
                    404 => RegistryError::NotFound { reference: whole },
                    status if super::retry::is_transient_status(status) => {
                        RegistryError::Transient {
                            reference: whole,
                            status,
                            retry_after: None,
                        }
                    }
                    _ => RegistryError::BadAnswer {
                        reference: whole,
                        reason: format!("it answered HTTP {status}: {e}"),
                    },
                }
            }
            OciDistributionError::RequestError(e) if certificate_problem(&e).is_some() => {
                RegistryError::Certificate {
                    reason: certificate_problem(&e).unwrap_or_default(),
                    registry,
                }
            }
            OciDistributionError::RequestError(e) => {
                RegistryError::unreachable(&registry, e.into())
            }
            OciDistributionError::ServerError { code, .. }
                if super::retry::is_transient_status(code) =>
            {
                RegistryError::Transient {
                    reference: whole,
                    status: code,
                    retry_after: None,
                }
            }
            OciDistributionError::ServerError { code, url, message } => RegistryError::BadAnswer {
                reference: whole,
                reason: format!(
                    "`{}` answered HTTP {code}: {}{}",
                    url.split('?').next().unwrap_or(&url),
                    message.trim(),
                    if code == 405 && url.contains("/blobs/uploads") {
                        " (it takes no uploads: a read-only or pull-through registry)"
                    } else {
                        ""
                    }
                ),
            },
            other => RegistryError::BadAnswer {
                reference: whole,
                reason: other.to_string(),
            },
        }
    }
}
