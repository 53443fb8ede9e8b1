//! Talking to an OCI registry: manifests, configs and blobs, digests checked.
//!
//! `oci-client` does the protocol (token auth, the distribution API, digest checks of
//! what it downloads); this module chooses plain HTTP or HTTPS per registry, finds
//! credentials in the Docker config, and turns transport failures into errors that say
//! which setting to change. Local registries (`localhost`, `127.0.0.1`, `[::1]`) are
//! spoken to over plain HTTP, as Docker itself does; others only when marked insecure.

use crate::oci::reference::is_local;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::OciDistributionError;
use oci_client::manifest::OciDescriptor;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use std::path::PathBuf;
use std::sync::Arc;

use oci_spec::image::{Descriptor, ImageConfiguration, ImageManifest};

use crate::error::{Error, Result};
use crate::oci::index::{Entry, IMAGE_MEDIA_TYPES, INDEX_MEDIA_TYPES, Manifest, entries};

/// The largest manifest read: the distribution registry refuses to store larger ones
/// (4 MiB), so anything bigger is a broken or hostile answer, not an image.
pub const MAX_MANIFEST_BYTES: u64 = 4 << 20;

/// Environment variable holding extra insecure registries, comma-separated.
pub const INSECURE_ENV: &str = "MULTIARCH_INSECURE_REGISTRIES";

/// Parses an image reference the way Docker does (`alpine` is `docker.io/library/alpine:latest`).
///
/// # Errors
/// [`Error::BadReference`] naming the reference.
pub fn parse_reference(text: &str) -> Result<Reference> {
    crate::oci::reference::parse(text.trim()).map_err(|source| Error::BadReference {
        reference: text.into(),
        source,
    })
}

/// A manifest fetched by reference, with the digest the registry served it under
/// (checked against the bytes).
#[derive(Debug, Clone)]
pub struct Fetched {
    /// `sha256:...` of `bytes`.
    pub digest: String,
    /// The exact bytes the registry sent.
    pub bytes: Vec<u8>,
    /// Those bytes, parsed.
    pub manifest: Manifest,
}

/// One platform's image: its manifest and its config, both digest-checked.
#[derive(Debug, Clone)]
pub struct PlatformImage {
    /// The image manifest's digest.
    pub digest: String,
    /// The image manifest.
    pub manifest: ImageManifest,
    /// The image config (architecture, os, variant, entrypoint).
    pub config: ImageConfiguration,
}

/// What happened to one blob of a copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobCopied {
    /// Its digest.
    pub digest: String,
    /// Its size in bytes.
    pub size: u64,
    /// How it got there.
    pub how: BlobMove,
}

/// How a blob reached the target repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BlobMove {
    /// It was there already (an earlier, interrupted copy sent it, or another image).
    AlreadyThere,
    /// Mounted from the source repository of the same registry: nothing sent.
    Mounted,
    /// Downloaded and uploaded.
    Sent,
}

/// A registry client for one or more registries.
///
/// Plain-HTTP registries (local and insecure ones) are read with a bare HTTP client
/// first: building `oci-client`'s client loads the system's TLS roots twice, which was
/// most of the time of an `inspect` of a local registry (BENCHMARKS.md). A registry that
/// asks for credentials, and every HTTPS registry, goes through `oci-client`, built on
/// first use, trusting the CAs Docker's own convention names for those registries
/// (`/etc/docker/certs.d/HOST:PORT/*.crt`) beside the system's.
///
/// A local registry is spoken to over plain HTTP unless it answers that it speaks HTTPS
/// (Go's "Client sent an HTTP request to an HTTPS server"): asked once, before the first
/// request, as Docker tries both for local registries.
#[derive(Clone)]
pub struct Registry {
    oci: Arc<tokio::sync::OnceCell<Client>>,
    plain: reqwest::Client,
    /// Marked insecure by the user: always plain HTTP.
    insecure: Vec<String>,
    /// Local registries of the references: plain HTTP unless they speak HTTPS.
    local: Vec<String>,
    /// Every registry this client was made for (whose certs.d folders apply).
    registries: Vec<String>,
    /// The registries spoken to over plain HTTP, once the local ones were asked.
    http: Arc<tokio::sync::OnceCell<Vec<String>>>,
}

/// Where Docker reads a registry's CA (`ca.crt`, any `*.crt`) and client certificate.
pub fn certs_d_dirs(registry: &str) -> Vec<PathBuf> {
    let mut dirs = vec![PathBuf::from("/etc/docker/certs.d").join(registry)];
    if let Some(config) = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
    {
        dirs.push(config.join("docker/certs.d").join(registry));
    }
    dirs
}

/// The CAs in the certs.d folders of `registries`, as oci-client takes them.
fn certs_d_roots(registries: &[String]) -> Vec<oci_client::client::Certificate> {
    let mut roots = Vec::new();
    for dir in registries.iter().flat_map(|r| certs_d_dirs(r)) {
        let Ok(files) = std::fs::read_dir(&dir) else {
            continue;
        };
        for file in files.flatten() {
            let path = file.path();
            if path.extension().is_some_and(|e| e == "crt") {
                match std::fs::read(&path) {
                    Ok(data) => roots.push(oci_client::client::Certificate {
                        encoding: oci_client::client::CertificateEncoding::Pem,
                        data,
                    }),
                    Err(e) => {
                        tracing::warn!(path = %path.display(), error = %e, "cannot read a CA from certs.d")
                    }
                }
            }
        }
    }
    roots
}

impl Registry {
    /// A client that uses plain HTTP for `insecure` registries.
    pub fn new(insecure: impl IntoIterator<Item = String>) -> Self {
        Self::with(insecure.into_iter().collect(), Vec::new(), Vec::new())
    }

    fn with(insecure: Vec<String>, local: Vec<String>, registries: Vec<String>) -> Self {
        Self {
            oci: Arc::new(tokio::sync::OnceCell::new()),
            // No TLS roots: this client only ever speaks plain HTTP.
            plain: crate::http::plain_client(std::time::Duration::from_secs(60)),
            insecure,
            local,
            registries,
            http: Arc::new(tokio::sync::OnceCell::new()),
        }
    }

    /// The registries spoken to over plain HTTP: the insecure ones, and each local one
    /// that does not answer plain HTTP with "this is an HTTPS server".
    async fn settle(&self) -> &[String] {
        self.http
            .get_or_init(|| async {
                let mut http = self.insecure.clone();
                for registry in &self.local {
                    if http.contains(registry) {
                        continue;
                    }
                    let answer = self
                        .plain
                        .get(format!("http://{registry}/v2/"))
                        .timeout(std::time::Duration::from_secs(3))
                        .send()
                        .await;
                    let speaks_https = match answer {
                        Ok(response) if response.status().as_u16() == 400 => response
                            .text()
                            .await
                            .is_ok_and(|body| body.contains("HTTPS server")),
                        _ => false,
                    };
                    if speaks_https {
                        tracing::debug!(%registry, "a local registry that speaks HTTPS");
                    } else {
                        http.push(registry.clone());
                    }
                }
                http
            })
            .await
    }

    /// The `oci-client` client, built on first use, after the protocols are settled.
    async fn oci(&self) -> &Client {
        let http = self.settle().await.to_vec();
        self.oci
            .get_or_init(|| async {
                Client::new(ClientConfig {
                    protocol: ClientProtocol::HttpsExcept(http),
                    // One PUT per blob instead of a PATCH per chunk: the blobs of an
                    // index are mostly small, and each round trip costs more than they do.
                    use_monolithic_push: true,
                    extra_root_certificates: certs_d_roots(&self.registries),
                    ..Default::default()
                })
            })
            .await
    }

    /// GET over plain HTTP (manifests capped at [`MAX_MANIFEST_BYTES`]); `None` when the registry wants credentials (then `oci-client`
    /// handles the token dance).
    async fn plain_get(
        &self,
        reference: &Reference,
        path: &str,
        accept: &str,
    ) -> Result<Option<(Vec<u8>, Option<String>)>> {
        let registry = reference.resolve_registry();
        let url = format!("http://{registry}/v2/{}/{path}", reference.repository());
        let response = self
            .plain
            .get(&url)
            .header(reqwest::header::ACCEPT, accept)
            .send()
            .await
            .map_err(|e| {
                if e.is_redirect() {
                    // It answers, so "is it running?" would mislead.
                    Error::BadAnswer {
                        reference: reference.whole(),
                        reason: format!("`{url}` redirects in a loop (more than 10 redirects)"),
                    }
                } else {
                    Error::Unreachable {
                        registry: registry.to_string(),
                        source: e.into(),
                    }
                }
            })?;
        match response.status().as_u16() {
            200 => {
                let header_digest = response
                    .headers()
                    .get("docker-content-digest")
                    .and_then(|v| v.to_str().ok())
                    .map(String::from);
                let too_large = || Error::BadAnswer {
                    reference: reference.whole(),
                    reason: format!(
                        "`{url}` is too large: more than {} MiB, which no registry accepts for a manifest",
                        MAX_MANIFEST_BYTES >> 20
                    ),
                };
                let limited = path.starts_with("manifests/");
                if limited && response.content_length().unwrap_or(0) > MAX_MANIFEST_BYTES {
                    return Err(too_large());
                }
                // Read in chunks, so that a registry lying about the length is cut off too.
                let mut response = response;
                let mut bytes = Vec::new();
                while let Some(chunk) = response.chunk().await.map_err(|e| Error::Unreachable {
                    registry: registry.to_string(),
                    source: e.into(),
                })? {
                    bytes.extend_from_slice(&chunk);
                    if limited && bytes.len() as u64 > MAX_MANIFEST_BYTES {
                        return Err(too_large());
                    }
                }
                Ok(Some((bytes, header_digest)))
            }
            401 => Ok(None),
            404 => Err(Error::NotFound {
                reference: reference.whole(),
            }),
            403 => Err(Error::Unauthorized {
                reference: reference.whole(),
                status: 403,
            }),
            status => Err(Error::BadAnswer {
                reference: reference.whole(),
                reason: format!("`{url}` answered HTTP {status}"),
            }),
        }
    }

    /// A client for the registry of `reference`, with `insecure` and the
    /// [`INSECURE_ENV`] list marked for plain HTTP.
    pub fn for_reference(reference: &Reference, insecure: &[String]) -> Self {
        Self::for_references(std::slice::from_ref(reference), insecure)
    }

    /// A client for several references' registries (copies between registries).
    pub fn for_references(references: &[Reference], insecure: &[String]) -> Self {
        let mut list: Vec<String> = insecure.to_vec();
        if let Ok(extra) = std::env::var(INSECURE_ENV) {
            list.extend(
                extra
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(String::from),
            );
        }
        let mut local = Vec::new();
        let mut registries = Vec::new();
        for reference in references {
            let registry = reference.resolve_registry().to_string();
            if is_local(&registry) && !local.contains(&registry) {
                local.push(registry.clone());
            }
            if !registries.contains(&registry) {
                registries.push(registry);
            }
        }
        Self::with(list, local, registries)
    }

    /// Whether this client speaks plain HTTP to `registry` (before the first request, a
    /// local registry counts as plain HTTP).
    pub fn uses_http(&self, registry: &str) -> bool {
        match self.http.get() {
            Some(http) => http.iter().any(|r| r == registry),
            None => {
                self.insecure.iter().any(|r| r == registry)
                    || self.local.iter().any(|r| r == registry)
            }
        }
    }

    /// Fetches what a tag or digest points at: an index or an image manifest.
    ///
    /// # Errors
    /// The registry cannot be reached, refuses, has no such tag, or sends bytes that
    /// are not a manifest or do not match their digest.
    pub async fn fetch(&self, reference: &Reference) -> Result<Fetched> {
        self.settle().await;
        let accepted: Vec<&str> = INDEX_MEDIA_TYPES
            .iter()
            .chain(IMAGE_MEDIA_TYPES)
            .copied()
            .collect();
        let plain = if self.uses_http(reference.resolve_registry()) {
            let target = reference
                .digest()
                .or(reference.tag())
                .unwrap_or("latest")
                .to_string();
            self.plain_get(
                reference,
                &format!("manifests/{target}"),
                &accepted.join(", "),
            )
            .await?
        } else {
            None
        };
        let (bytes, digest) = match plain {
            Some((bytes, header_digest)) => {
                let digest = sha256_digest(&bytes);
                // The bytes must be what was asked for, and what the registry says they are.
                for expected in [reference.digest(), header_digest.as_deref()]
                    .into_iter()
                    .flatten()
                {
                    if expected != digest {
                        return Err(Error::DigestMismatch {
                            reference: reference.whole(),
                            expected: expected.to_string(),
                        });
                    }
                }
                (bytes::Bytes::from(bytes), digest)
            }
            None => self
                .oci()
                .await
                .pull_manifest_raw(reference, &auth_for(reference), &accepted)
                .await
                .map_err(|e| self.classify(reference, e))?,
        };
        let manifest = Manifest::parse(&bytes).map_err(|e| Error::BadAnswer {
            reference: reference.whole(),
            reason: e.to_string(),
        })?;
        Ok(Fetched {
            digest,
            bytes: bytes.to_vec(),
            manifest,
        })
    }

    /// Fetches one platform's image manifest and config, by digest.
    ///
    /// # Errors
    /// As [`Registry::fetch`], and [`Error::BadAnswer`] when the digest names an index.
    pub async fn fetch_image(&self, reference: &Reference, digest: &str) -> Result<PlatformImage> {
        let by_digest = reference.clone_with_digest(digest.to_string());
        let fetched = self.fetch(&by_digest).await?;
        let Manifest::Image(manifest) = fetched.manifest else {
            return Err(Error::BadAnswer {
                reference: by_digest.whole(),
                reason: "expected an image manifest, found an index".into(),
            });
        };
        let config_bytes = self.fetch_blob(&by_digest, manifest.config()).await?;
        let config: ImageConfiguration =
            serde_json::from_slice(&config_bytes).map_err(|e| Error::BadAnswer {
                reference: by_digest.whole(),
                reason: format!("the image config is not valid: {e}"),
            })?;
        Ok(PlatformImage {
            digest: fetched.digest,
            manifest,
            config,
        })
    }

    /// What a fetched tag holds, one entry each: every entry of an index, or the single
    /// image with the platform its config names.
    ///
    /// # Errors
    /// As [`Registry::fetch_image`], for a single image.
    pub async fn entries(&self, reference: &Reference, fetched: &Fetched) -> Result<Vec<Entry>> {
        Ok(match &fetched.manifest {
            Manifest::Index(index) => entries(index),
            Manifest::Image(_) => {
                let image = self.fetch_image(reference, &fetched.digest).await?;
                vec![Entry::single_image(
                    fetched.digest.clone(),
                    fetched.manifest.media_type(),
                    fetched.bytes.len() as u64,
                    &image.config,
                )]
            }
        })
    }

    /// Downloads a blob whole, refusing it if its digest does not match.
    ///
    /// # Errors
    /// As [`Registry::fetch`]; [`Error::DigestMismatch`] for altered content.
    pub async fn fetch_blob(
        &self,
        reference: &Reference,
        descriptor: &Descriptor,
    ) -> Result<Vec<u8>> {
        self.settle().await;
        let wanted = OciDescriptor {
            media_type: descriptor.media_type().to_string(),
            digest: descriptor.digest().to_string(),
            size: i64::try_from(descriptor.size()).unwrap_or(i64::MAX),
            ..Default::default()
        };
        if self.uses_http(reference.resolve_registry()) {
            let path = format!("blobs/{}", descriptor.digest());
            if let Some((bytes, _)) = self.plain_get(reference, &path, "*/*").await? {
                if sha256_digest(&bytes) != descriptor.digest().to_string() {
                    return Err(Error::DigestMismatch {
                        reference: reference.whole(),
                        expected: descriptor.digest().to_string(),
                    });
                }
                return Ok(bytes);
            }
        }
        let mut out = Vec::with_capacity(usize::try_from(descriptor.size()).unwrap_or(0));
        self.oci()
            .await
            .pull_blob(reference, &wanted, &mut out)
            .await
            .map_err(|e| self.classify(reference, e))?;
        Ok(out)
    }

    /// Makes `source`'s image manifest `digest` (and its config and layers) available
    /// in `target`'s repository: blobs already there are skipped, blobs in the same
    /// registry are mounted, others are copied; `on_blob` hears of each.
    ///
    /// # Errors
    /// As [`Registry::fetch`], plus a refused push.
    pub async fn copy_image(
        &self,
        source: &Reference,
        digest: &str,
        target: &Reference,
        on_blob: &(dyn Fn(BlobCopied) + Sync),
    ) -> Result<()> {
        let fetched = self
            .fetch(&source.clone_with_digest(digest.to_string()))
            .await?;
        self.copy_fetched(source, &fetched, target, on_blob).await
    }

    /// As [`Registry::copy_image`], for an image manifest already fetched from `source`.
    ///
    /// # Errors
    /// As [`Registry::copy_image`].
    pub async fn copy_fetched(
        &self,
        source: &Reference,
        fetched: &Fetched,
        target: &Reference,
        on_blob: &(dyn Fn(BlobCopied) + Sync),
    ) -> Result<()> {
        let digest = fetched.digest.as_str();
        let source_by_digest = source.clone_with_digest(digest.to_string());
        let Manifest::Image(image) = &fetched.manifest else {
            return Err(Error::BadAnswer {
                reference: source_by_digest.whole(),
                reason: "expected an image manifest, found an index".into(),
            });
        };
        let same_repository = source.resolve_registry() == target.resolve_registry()
            && source.repository() == target.repository();
        let oci = self.oci().await;
        oci.store_auth_if_needed(target.resolve_registry(), &auth_for(target))
            .await;
        let same_registry = source.resolve_registry() == target.resolve_registry();
        for blob in std::iter::once(image.config()).chain(image.layers()) {
            let blob_digest = blob.digest().to_string();
            let copied = |how| BlobCopied {
                digest: blob_digest.clone(),
                size: blob.size(),
                how,
            };
            let present = same_repository
                || oci
                    .blob_exists(target, &blob_digest)
                    .await
                    .map_err(|e| self.classify(target, e))?;
            if present {
                on_blob(copied(BlobMove::AlreadyThere));
                continue;
            }
            let mounted = same_registry
                && oci.mount_blob(target, source, &blob_digest).await.is_ok()
                && oci.blob_exists(target, &blob_digest).await.unwrap_or(false);
            if mounted {
                on_blob(copied(BlobMove::Mounted));
                continue;
            }
            let bytes = self.fetch_blob(&source_by_digest, blob).await?;
            oci.push_blob(target, bytes, &blob_digest)
                .await
                .map_err(|e| self.classify(target, e))?;
            on_blob(copied(BlobMove::Sent));
        }
        self.push_manifest(
            &target.clone_with_digest(digest.to_string()),
            fetched.bytes.clone(),
            &fetched.manifest.media_type(),
        )
        .await?;
        Ok(())
    }

    /// Every tag of `reference`'s repository, `page` at a time (the distribution API's
    /// `n` and `last`), in the registry's order.
    ///
    /// # Errors
    /// As [`Registry::fetch`].
    pub async fn tags(&self, reference: &Reference, page: usize) -> Result<Vec<String>> {
        let oci = self.oci().await;
        let auth = auth_for(reference);
        let mut all: Vec<String> = Vec::new();
        loop {
            let answer = oci
                .list_tags(reference, &auth, Some(page), all.last().map(String::as_str))
                .await
                .map_err(|e| self.classify(reference, e))?;
            let got = answer.tags.len();
            // A registry that ignores `last` would send the same page forever.
            let new: Vec<String> = answer
                .tags
                .into_iter()
                .filter(|t| !all.contains(t))
                .collect();
            let progressed = !new.is_empty();
            all.extend(new);
            if got < page || !progressed {
                return Ok(all);
            }
        }
    }

    /// Uploads a blob unless the repository has it already; returns its digest.
    ///
    /// # Errors
    /// As [`Registry::fetch`].
    pub async fn push_blob(&self, target: &Reference, bytes: Vec<u8>) -> Result<String> {
        let digest = sha256_digest(&bytes);
        self.oci()
            .await
            .store_auth_if_needed(target.resolve_registry(), &auth_for(target))
            .await;
        let present = self
            .oci()
            .await
            .blob_exists(target, &digest)
            .await
            .map_err(|e| self.classify(target, e))?;
        if !present {
            self.oci()
                .await
                .push_blob(target, bytes, &digest)
                .await
                .map_err(|e| self.classify(target, e))?;
        }
        Ok(digest)
    }

    /// Deletes a manifest by digest, from a registry spoken to over plain HTTP (a local
    /// one, whose `storage.delete` is on as the test bed's is).
    ///
    /// # Errors
    /// [`Error::Unreachable`], or [`Error::BadAnswer`] when the registry refuses.
    pub async fn delete_manifest(&self, reference: &Reference, digest: &str) -> Result<()> {
        self.settle().await;
        let registry = reference.resolve_registry();
        if !self.uses_http(registry) {
            return Err(Error::BadAnswer {
                reference: reference.whole(),
                reason: "manifests are deleted only from plain-HTTP (local) registries".into(),
            });
        }
        let url = format!(
            "http://{registry}/v2/{}/manifests/{digest}",
            reference.repository()
        );
        let response = crate::http::send_to_registry(self.plain.delete(&url), registry).await?;
        match response.status().as_u16() {
            202 | 404 => Ok(()),
            status => Err(Error::BadAnswer {
                reference: reference.whole(),
                reason: format!("`DELETE {url}` answered {status}"),
            }),
        }
    }

    /// Pushes manifest bytes as they are; returns their digest.
    ///
    /// # Errors
    /// The registry refuses the push or cannot be reached.
    pub async fn push_manifest(
        &self,
        target: &Reference,
        bytes: Vec<u8>,
        media_type: &str,
    ) -> Result<String> {
        self.oci()
            .await
            .store_auth_if_needed(target.resolve_registry(), &auth_for(target))
            .await;
        let content_type = media_type.parse().map_err(|_| Error::BadAnswer {
            reference: target.whole(),
            reason: format!("`{media_type}` is not a valid media type"),
        })?;
        let digest = sha256_digest(&bytes);
        self.oci()
            .await
            .push_manifest_raw(target, bytes, content_type)
            .await
            .map_err(|e| self.classify(target, e))?;
        Ok(digest)
    }

    /// Turns a client error into one that says what to do.
    fn classify(&self, reference: &Reference, error: OciDistributionError) -> Error {
        let registry = reference.resolve_registry().to_string();
        let whole = reference.whole();
        match error {
            OciDistributionError::ImageManifestNotFoundError(_) => {
                Error::NotFound { reference: whole }
            }
            OciDistributionError::ServerError { code: 404, .. } => {
                Error::NotFound { reference: whole }
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
                Error::NotFound { reference: whole }
            }
            OciDistributionError::UnauthorizedError { .. }
            | OciDistributionError::AuthenticationFailure(_) => Error::Unauthorized {
                reference: whole,
                status: 401,
            },
            OciDistributionError::ServerError { code, .. } if code == 401 || code == 403 => {
                Error::Unauthorized {
                    reference: whole,
                    status: code,
                }
            }
            OciDistributionError::DigestError(_) => Error::DigestMismatch {
                expected: reference.digest().unwrap_or("the one served").to_string(),
                reference: whole,
            },
            OciDistributionError::RequestError(e)
                if (e.is_connect() || e.is_timeout())
                    && !self.uses_http(&registry)
                    && chain_mentions_tls(&e) =>
            {
                Error::HttpOnly { registry }
            }
            // The registry answered, with an HTTP error (oci-client's `error_for_status`).
            OciDistributionError::RequestError(e) if e.status().is_some() => {
                let status = e.status().map_or(0, |s| s.as_u16());
                match status {
                    401 | 403 => Error::Unauthorized {
                        reference: whole,
                        status,
                    },
                    404 => Error::NotFound { reference: whole },
                    _ => Error::BadAnswer {
                        reference: whole,
                        reason: format!("it answered HTTP {status}: {e}"),
                    },
                }
            }
            OciDistributionError::RequestError(e) if certificate_problem(&e).is_some() => {
                Error::Certificate {
                    reason: certificate_problem(&e).unwrap_or_default(),
                    registry,
                }
            }
            OciDistributionError::RequestError(e) => Error::Unreachable {
                registry,
                source: e.into(),
            },
            OciDistributionError::ServerError { code, url, message } => Error::BadAnswer {
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
            other => Error::BadAnswer {
                reference: whole,
                reason: other.to_string(),
            },
        }
    }
}

/// Checks that each of `wanted` is among the platforms `listed` for `reference`.
///
/// # Errors
/// [`Error::PlatformMissing`] naming the first one missing and what there is.
pub fn require_platforms(
    reference: &Reference,
    listed: &[Entry],
    wanted: &[multiarch_platform::Platform],
) -> Result<()> {
    let available = crate::oci::index::platforms(listed);
    match wanted.iter().find(|p| !available.contains(p)) {
        None => Ok(()),
        Some(missing) => Err(Error::PlatformMissing {
            reference: reference.whole(),
            platform: missing.clone(),
            available: available
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

/// `sha256:<hex>` of some bytes.
pub fn sha256_digest(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    let hash = sha2::Sha256::digest(bytes);
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// A TLS handshake with a plain-HTTP server fails with a record-layer complaint.
fn chain_mentions_tls(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = cause {
        let text = e.to_string().to_ascii_lowercase();
        if text.contains("invalidcontenttype")
            || text.contains("corrupt message")
            || text.contains("wrong version number")
            || text.contains("http request to an https server")
            || text.contains("invalid content type")
        {
            return true;
        }
        cause = e.source();
    }
    false
}

/// The TLS verifier's complaint about the registry's certificate, if that is what failed
/// (`invalid peer certificate: UnknownIssuer`).
fn certificate_problem(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = cause {
        let text = e.to_string();
        if text.contains("invalid peer certificate") || text.contains("certificate verify failed") {
            return Some(text);
        }
        cause = e.source();
    }
    None
}

/// Credentials for the reference's registry from the Docker config, if any.
fn auth_for(reference: &Reference) -> RegistryAuth {
    match stored_credential(reference.resolve_registry()) {
        Some(docker_credential::DockerCredential::UsernamePassword(user, password)) => {
            RegistryAuth::Basic(user, password)
        }
        Some(docker_credential::DockerCredential::IdentityToken(token)) => {
            RegistryAuth::Bearer(token)
        }
        None => RegistryAuth::Anonymous,
    }
}

/// What `docker login` stored for the reference's registry, in the form the engine's
/// push takes.
pub(crate) fn engine_credentials(
    reference: &Reference,
) -> Option<bollard::auth::DockerCredentials> {
    let server = credential_server(reference.resolve_registry());
    Some(match docker_credential::get_credential(server).ok()? {
        docker_credential::DockerCredential::UsernamePassword(username, password) => {
            bollard::auth::DockerCredentials {
                username: Some(username),
                password: Some(password),
                serveraddress: Some(server.to_string()),
                ..Default::default()
            }
        }
        docker_credential::DockerCredential::IdentityToken(token) => {
            bollard::auth::DockerCredentials {
                identitytoken: Some(token),
                serveraddress: Some(server.to_string()),
                ..Default::default()
            }
        }
    })
}

fn stored_credential(registry: &str) -> Option<docker_credential::DockerCredential> {
    docker_credential::get_credential(credential_server(registry)).ok()
}

/// The key `docker login` files a registry's credentials under: Docker Hub's is its
/// old index URL, every other registry's is its host[:port].
fn credential_server(registry: &str) -> &str {
    match registry {
        "index.docker.io" | "docker.io" | "registry-1.docker.io" => "https://index.docker.io/v1/",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("localhost:5000", true)]
    #[case("localhost", true)]
    #[case("127.0.0.1:5001", true)]
    #[case("[::1]:5000", true)]
    #[case("host.docker.internal:5000", false)]
    #[case("registry.example.com", false)]
    #[case("index.docker.io", false)]
    fn local_registries_use_plain_http(#[case] registry: &str, #[case] local: bool) {
        assert_eq!(is_local(registry), local);
    }

    #[rstest]
    #[case(
        "localhost:5000/arch-server:latest",
        "localhost:5000",
        "arch-server",
        Some("latest")
    )]
    #[case("alpine", "docker.io", "library/alpine", Some("latest"))]
    #[case(
        "ghcr.io/org/app@sha256:0000000000000000000000000000000000000000000000000000000000000000",
        "ghcr.io",
        "org/app",
        None
    )]
    fn references_parse_as_docker_does(
        #[case] text: &str,
        #[case] registry: &str,
        #[case] repository: &str,
        #[case] tag: Option<&str>,
    ) {
        let reference = parse_reference(text).unwrap();
        assert_eq!(reference.registry(), registry);
        assert_eq!(reference.repository(), repository);
        assert_eq!(reference.tag(), tag);
    }

    #[rstest]
    #[case("", "it is empty")]
    #[case("UPPER/case", "`UPPER` is not a valid repository path component")]
    #[case("localhost:5000/x:bad tag", "`bad tag` is not a valid tag")]
    #[case("x@sha256:short", "`sha256:short` is not a valid digest")]
    fn bad_references_are_named_with_their_cause(#[case] text: &str, #[case] cause: &str) {
        let error = parse_reference(text).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!("`{text}` is not a valid image reference")
        );
        let source = std::error::Error::source(&error).expect("the parser's reason");
        assert!(source.to_string().starts_with(cause), "{source}");
    }

    /// Issue #13: `build -t app:1 --push` looked up credentials for a registry named
    /// `app`; a short name is Docker Hub's, filed under its index URL.
    #[rstest]
    #[case("app:1", "https://index.docker.io/v1/")]
    #[case("library/alpine", "https://index.docker.io/v1/")]
    #[case("docker.io/me/app:2", "https://index.docker.io/v1/")]
    #[case("ghcr.io/me/app:1", "ghcr.io")]
    #[case("localhost:5000/app:1", "localhost:5000")]
    fn credentials_are_looked_up_under_the_references_registry(
        #[case] image: &str,
        #[case] server: &str,
    ) {
        let reference = parse_reference(image).unwrap();
        assert_eq!(credential_server(reference.resolve_registry()), server);
    }
}
