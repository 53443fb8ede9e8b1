//! `HEAD` of a manifest: the digest a tag points at, without the manifest. Docker Hub
//! counts a manifest `GET` against the pull quota and a `HEAD` not, so whatever asks the
//! same tags again and again (a fleet's audit) asks this first, and only `GET`s a digest it
//! has not read before. The registry's rate limit, where it says one
//! (`ratelimit-remaining: 76;w=21600`), comes back with the answer.

use oci_client::Reference;
use oci_client::RegistryOperation;
use oci_client::secrets::RegistryAuth;

use super::Registry;
use super::credentials::auth_for;
use super::error::{RegistryError, Result};
use crate::oci::index::{IMAGE_MEDIA_TYPES, INDEX_MEDIA_TYPES};

/// What a `HEAD` of a manifest says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// `Docker-Content-Digest`: what the tag points at (the reference's own digest when it
    /// has one).
    pub digest: String,
    /// `Content-Type`, when the registry says it.
    pub media_type: Option<String>,
    /// What is left of the registry's pull quota, when it says so.
    pub rate_limit: Option<RateLimit>,
}

/// A registry's `ratelimit-remaining` header: `76;w=21600` is 76 pulls left in a window of
/// 21,600 seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct RateLimit {
    /// Pulls left.
    pub remaining: u64,
    /// The window they are counted in, in seconds.
    pub window_seconds: Option<u64>,
}

impl RateLimit {
    /// Reads `76;w=21600`.
    pub fn parse(value: &str) -> Option<Self> {
        let mut parts = value.split(';');
        let remaining = parts.next()?.trim().parse().ok()?;
        let window_seconds = parts
            .filter_map(|p| p.trim().strip_prefix("w="))
            .find_map(|w| w.parse().ok());
        Some(Self {
            remaining,
            window_seconds,
        })
    }
}

impl Registry {
    /// `HEAD`s the manifest `reference` names, with this client's retries.
    ///
    /// # Errors
    /// [`RegistryError::NotFound`], [`RegistryError::Unauthorized`],
    /// [`RegistryError::Unreachable`], and the transient answers a retry gave up on.
    pub async fn head(&self, reference: &Reference) -> Result<Head> {
        self.retrying(
            || format!("HEAD the manifest `{}`", reference.whole()),
            || self.head_once(reference),
        )
        .await
    }

    async fn head_once(&self, reference: &Reference) -> Result<Head> {
        self.settle().await;
        self.sent.head();
        let registry = reference.resolve_registry();
        let http = self.uses_http(registry);
        let target = reference.digest().or(reference.tag()).unwrap_or("latest");
        let url = format!(
            "{}://{registry}/v2/{}/manifests/{target}",
            if http { "http" } else { "https" },
            reference.repository()
        );
        let client = if http {
            self.plain.clone()
        } else {
            self.secure_client()?
        };
        let accept: Vec<&str> = INDEX_MEDIA_TYPES
            .iter()
            .chain(IMAGE_MEDIA_TYPES)
            .copied()
            .collect();
        let request = |auth: Option<&str>| {
            let mut request = client
                .head(&url)
                .header(reqwest::header::ACCEPT, accept.join(", "));
            if let Some(value) = auth {
                request = request.header(reqwest::header::AUTHORIZATION, value);
            }
            request
        };
        let unreachable = |e: reqwest::Error| RegistryError::unreachable(registry, e.into());
        let mut response = request(None).send().await.map_err(unreachable)?;
        if response.status() == reqwest::StatusCode::UNAUTHORIZED {
            // oci-client answers the registry's challenge (a token for `pull`, or Basic).
            let auth = auth_for(reference);
            let token = self
                .oci()
                .await
                .auth(reference, &auth, RegistryOperation::Pull)
                .await
                .map_err(|e| self.classify(reference, e))?;
            let header = match (token, &auth) {
                (Some(token), _) => Some(format!("Bearer {token}")),
                (None, RegistryAuth::Basic(user, password)) => {
                    use base64::Engine;
                    let pair = format!("{user}:{password}");
                    Some(format!(
                        "Basic {}",
                        base64::engine::general_purpose::STANDARD.encode(pair)
                    ))
                }
                (None, _) => None,
            };
            response = request(header.as_deref())
                .send()
                .await
                .map_err(unreachable)?;
        }
        let headers = response.headers();
        let status = response.status().as_u16();
        match status {
            200 => {}
            404 => {
                return Err(RegistryError::NotFound {
                    reference: reference.whole(),
                });
            }
            401 | 403 => {
                return Err(RegistryError::Unauthorized {
                    reference: reference.whole(),
                    status,
                });
            }
            _ => {
                return Err(super::retry::transient_answer(reference, status, headers)
                    .unwrap_or_else(|| RegistryError::BadAnswer {
                        reference: reference.whole(),
                        reason: format!("`{url}` answered HTTP {status} to a HEAD"),
                    }));
            }
        }
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(String::from)
        };
        let digest = match (header("docker-content-digest"), reference.digest()) {
            (Some(digest), Some(asked)) if digest != asked => {
                return Err(RegistryError::DigestMismatch {
                    reference: reference.whole(),
                    expected: asked.to_string(),
                });
            }
            (Some(digest), _) => digest,
            (None, Some(asked)) => asked.to_string(),
            // A registry that does not say the digest on HEAD: it is read from the bytes.
            (None, None) => self.fetch(reference).await?.digest,
        };
        Ok(Head {
            digest,
            media_type: header("content-type"),
            rate_limit: header("ratelimit-remaining")
                .as_deref()
                .and_then(RateLimit::parse),
        })
    }

    /// A client for HTTPS registries, trusting the system's CAs and Docker's certs.d ones.
    fn secure_client(&self) -> Result<reqwest::Client> {
        crate::http::install_crypto_provider();
        let mut builder = reqwest::Client::builder().timeout(std::time::Duration::from_secs(60));
        for root in super::certs::certs_d_roots(&self.registries) {
            if let Ok(certificate) = reqwest::Certificate::from_pem(&root.data) {
                builder = builder.add_root_certificate(certificate);
            }
        }
        builder.build().map_err(|e| RegistryError::Unreachable {
            registry: self.registries.join(", "),
            source: e.into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_hubs_rate_limit_header_is_read() {
        assert_eq!(
            RateLimit::parse("76;w=21600"),
            Some(RateLimit {
                remaining: 76,
                window_seconds: Some(21600)
            })
        );
        assert_eq!(
            RateLimit::parse("5"),
            Some(RateLimit {
                remaining: 5,
                window_seconds: None
            })
        );
        assert_eq!(RateLimit::parse("many"), None);
    }
}
