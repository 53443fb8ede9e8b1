//! Reading from a registry: manifests (plain HTTP fast path, oci-client for the rest),
//! image configs, blobs and tags, every digest checked.

use oci_client::Reference;
use oci_client::manifest::OciDescriptor;
use oci_spec::image::{Descriptor, ImageConfiguration, ImageManifest};

use super::credentials::auth_for;
use super::error::{RegistryError, Result};
use super::sha256_digest;
use super::{MAX_MANIFEST_BYTES, Registry};
use crate::oci::index::{Entry, IMAGE_MEDIA_TYPES, INDEX_MEDIA_TYPES, Manifest, entries};

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

impl Registry {
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
                    RegistryError::BadAnswer {
                        reference: reference.whole(),
                        reason: format!("`{url}` redirects in a loop (more than 10 redirects)"),
                    }
                } else {
                    RegistryError::unreachable(registry, e.into())
                }
            })?;
        match response.status().as_u16() {
            200 => {
                let header_digest = response
                    .headers()
                    .get("docker-content-digest")
                    .and_then(|v| v.to_str().ok())
                    .map(String::from);
                let too_large = || RegistryError::BadAnswer {
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
                while let Some(chunk) = response
                    .chunk()
                    .await
                    .map_err(|e| RegistryError::unreachable(registry, e.into()))?
                {
                    bytes.extend_from_slice(&chunk);
                    if limited && bytes.len() as u64 > MAX_MANIFEST_BYTES {
                        return Err(too_large());
                    }
                }
                Ok(Some((bytes, header_digest)))
            }
            401 => Ok(None),
            404 => Err(RegistryError::NotFound {
                reference: reference.whole(),
            }),
            403 => Err(RegistryError::Unauthorized {
                reference: reference.whole(),
                status: 403,
            }),
            status => Err(
                super::retry::transient_answer(reference, status, response.headers())
                    .unwrap_or_else(|| RegistryError::BadAnswer {
                        reference: reference.whole(),
                        reason: format!("`{url}` answered HTTP {status}"),
                    }),
            ),
        }
    }

    /// Fetches what a tag or digest points at: an index or an image manifest.
    ///
    /// # Errors
    /// The registry cannot be reached, refuses, has no such tag, or sends bytes that
    /// are not a manifest or do not match their digest.
    pub async fn fetch(&self, reference: &Reference) -> Result<Fetched> {
        let get = || {
            self.retrying(
                || format!("GET the manifest `{}`", reference.whole()),
                || self.fetch_once(reference),
            )
        };
        // By digest, a manifest never changes: a client that keeps what it read asks once.
        match (&self.layers, reference.digest()) {
            (Some(kept), Some(digest)) => kept.2.cell(digest).get_or_try_init(get).await.cloned(),
            _ => get().await,
        }
    }

    async fn fetch_once(&self, reference: &Reference) -> Result<Fetched> {
        self.settle().await;
        self.sent.manifest();
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
                        return Err(RegistryError::DigestMismatch {
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
        let manifest = Manifest::parse(&bytes).map_err(|e| RegistryError::BadAnswer {
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
    /// As [`Registry::fetch`], and [`RegistryError::BadAnswer`] when the digest names an index.
    pub async fn fetch_image(&self, reference: &Reference, digest: &str) -> Result<PlatformImage> {
        let by_digest = reference.clone_with_digest(digest.to_string());
        let fetched = self.fetch(&by_digest).await?;
        let Manifest::Image(manifest) = fetched.manifest else {
            return Err(RegistryError::BadAnswer {
                reference: by_digest.whole(),
                reason: "expected an image manifest, found an index".into(),
            });
        };
        let config_bytes = self.fetch_blob(&by_digest, manifest.config()).await?;
        let config: ImageConfiguration =
            serde_json::from_slice(&config_bytes).map_err(|e| RegistryError::BadAnswer {
                reference: by_digest.whole(),
                reason: format!("the image config is not valid: {e}"),
            })?;
        Ok(PlatformImage {
            digest: fetched.digest,
            manifest,
            config,
        })
    }

    /// Fetches `reference` and what it holds, one entry each ([`Registry::entries`]).
    ///
    /// # Errors
    /// As [`Registry::fetch`] and [`Registry::entries`].
    pub async fn fetch_entries(&self, reference: &Reference) -> Result<(Fetched, Vec<Entry>)> {
        let fetched = self.fetch(reference).await?;
        let listed = self.entries(reference, &fetched).await?;
        Ok((fetched, listed))
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
    /// As [`Registry::fetch`]; [`RegistryError::DigestMismatch`] for altered content.
    pub(crate) async fn fetch_blob(
        &self,
        reference: &Reference,
        descriptor: &Descriptor,
    ) -> Result<Vec<u8>> {
        let get = || {
            self.retrying(
                || {
                    format!(
                        "GET the blob {} of `{}`",
                        descriptor.digest(),
                        reference.whole()
                    )
                },
                || self.fetch_blob_once(reference, descriptor),
            )
        };
        match &self.layers {
            Some(kept) => kept
                .1
                .cell(descriptor.digest().as_ref())
                .get_or_try_init(get)
                .await
                .cloned(),
            None => get().await,
        }
    }

    async fn fetch_blob_once(
        &self,
        reference: &Reference,
        descriptor: &Descriptor,
    ) -> Result<Vec<u8>> {
        self.settle().await;
        self.sent.blob();
        let wanted = oci_descriptor(descriptor);
        if self.uses_http(reference.resolve_registry()) {
            let path = format!("blobs/{}", descriptor.digest());
            if let Some((bytes, _)) = self.plain_get(reference, &path, "*/*").await? {
                if sha256_digest(&bytes) != descriptor.digest().to_string() {
                    return Err(RegistryError::DigestMismatch {
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

    /// The referrers of `subject` (a reference by digest): the manifests whose `subject`
    /// it is (cosign 3's signatures among them), from the OCI 1.1 referrers API, or where
    /// the registry has none, from the referrers tag (`sha256-<hex>`), as oci-client
    /// falls back; each as its index descriptor. None is an empty list.
    ///
    /// # Errors
    /// As [`Registry::fetch`].
    pub(crate) async fn referrers(&self, subject: &Reference) -> Result<Vec<serde_json::Value>> {
        let oci = self.oci().await;
        oci.store_auth_if_needed(subject.resolve_registry(), &auth_for(subject))
            .await;
        let found = self
            .retrying(
                || format!("GET the referrers of `{}`", subject.whole()),
                || async {
                    oci.pull_referrers(subject, None)
                        .await
                        .map_err(|e| self.classify(subject, e))
                },
            )
            .await;
        match found {
            Ok(index) => Ok(index
                .manifests
                .iter()
                .filter_map(|entry| serde_json::to_value(entry).ok())
                .collect()),
            Err(RegistryError::NotFound { .. }) => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    /// One layer, for reading files out of it: in memory when small, streamed into a
    /// temporary file when large (its digest checked as the bytes pass), so that a
    /// multi-GiB layer costs disk, not memory.
    ///
    /// # Errors
    /// As [`Registry::fetch_blob`]; [`RegistryError::Scratch`] when the file cannot be written.
    pub(crate) async fn fetch_layer(
        &self,
        reference: &Reference,
        descriptor: &Descriptor,
    ) -> Result<crate::oci::layers::Layer> {
        match &self.layers {
            Some(kept) => kept
                .cell(descriptor.digest().as_ref())
                .get_or_try_init(|| self.download_layer(reference, descriptor))
                .await
                .cloned(),
            None => self.download_layer(reference, descriptor).await,
        }
    }

    async fn download_layer(
        &self,
        reference: &Reference,
        descriptor: &Descriptor,
    ) -> Result<crate::oci::layers::Layer> {
        use crate::oci::layers::Layer;
        /// Layers up to this size are read into memory, unless the client keeps them: a
        /// fleet's thousands of layers, kept for a whole run, belong on disk.
        const IN_MEMORY: u64 = 16 << 20;
        let media_type = descriptor.media_type().to_string();
        if descriptor.size() <= IN_MEMORY && self.layers.is_none() {
            let bytes = self.fetch_blob(reference, descriptor).await?;
            return Ok(Layer::in_memory(media_type, bytes));
        }
        let file = self
            .retrying(
                || {
                    format!(
                        "GET the layer {} of `{}`",
                        descriptor.digest(),
                        reference.whole()
                    )
                },
                || self.blob_to_file(reference, descriptor),
            )
            .await?;
        Ok(Layer::on_disk(media_type, file))
    }

    async fn blob_to_file(
        &self,
        reference: &Reference,
        descriptor: &Descriptor,
    ) -> Result<tempfile::NamedTempFile> {
        use futures_util::StreamExt;
        use std::io::Write;
        self.settle().await;
        self.sent.blob();
        let wanted = oci_descriptor(descriptor);
        let mut pulled = self
            .oci()
            .await
            .pull_blob_stream(reference, &wanted)
            .await
            .map_err(|e| self.classify(reference, e))?;
        let scratch = |source: std::io::Error| RegistryError::Scratch {
            what: format!("the layer {}", descriptor.digest()),
            source,
        };
        let mut file = tempfile::NamedTempFile::new().map_err(scratch)?;
        while let Some(chunk) = pulled.stream.next().await {
            let chunk = chunk.map_err(|e| self.stream_failure(reference, descriptor, e))?;
            file.write_all(&chunk).map_err(scratch)?;
        }
        file.flush().map_err(scratch)?;
        Ok(file)
    }

    /// What a blob stream that ended early means: altered content (its digest did not
    /// match), or a transport failure worth another try.
    pub(super) fn stream_failure(
        &self,
        reference: &Reference,
        descriptor: &Descriptor,
        error: std::io::Error,
    ) -> RegistryError {
        if error
            .get_ref()
            .is_some_and(|inner| inner.is::<oci_client::errors::DigestError>())
        {
            RegistryError::DigestMismatch {
                reference: reference.whole(),
                expected: descriptor.digest().to_string(),
            }
        } else {
            RegistryError::unreachable(reference.resolve_registry(), error.into())
        }
    }

    /// Every repository of the registry `reference` names, `page` at a time (the
    /// distribution API's catalog, which registries may refuse; Docker Hub does).
    ///
    /// # Errors
    /// As [`Registry::fetch`].
    pub async fn catalog(&self, reference: &Reference, page: usize) -> Result<Vec<String>> {
        let oci = &self.oci().await;
        let auth = &auth_for(reference);
        every_page(page, |last| async move {
            let answer = self
                .retrying(
                    || format!("GET the catalog of `{}`", reference.resolve_registry()),
                    || async {
                        oci.catalog(reference, auth, Some(page), last.as_deref())
                            .await
                            .map_err(|e| self.classify(reference, e))
                    },
                )
                .await?;
            Ok(answer.repositories)
        })
        .await
    }

    /// Every tag of `reference`'s repository, `page` at a time (the distribution API's
    /// `n` and `last`), in the registry's order.
    ///
    /// # Errors
    /// As [`Registry::fetch`].
    pub async fn tags(&self, reference: &Reference, page: usize) -> Result<Vec<String>> {
        let oci = &self.oci().await;
        let auth = &auth_for(reference);
        every_page(page, |last| async move {
            let answer = self
                .retrying(
                    || format!("GET the tags of `{}`", reference.whole()),
                    || async {
                        oci.list_tags(reference, auth, Some(page), last.as_deref())
                            .await
                            .map_err(|e| self.classify(reference, e))
                    },
                )
                .await?;
            Ok(answer.tags)
        })
        .await
    }
}

/// Every name of a paged list (the distribution API's `n` and `last`): `next` is asked
/// for the page after the last name so far, until a page comes back short or brings
/// nothing new. A registry that ignores `last` would otherwise send the same page
/// forever; a name sent twice is kept once, in the order it first came.
async fn every_page<F, Fut>(page: usize, mut next: F) -> Result<Vec<String>>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<String>>>,
{
    let mut all: Vec<String> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    loop {
        let answer = next(all.last().cloned()).await?;
        let (got, before) = (answer.len(), all.len());
        all.extend(answer.into_iter().filter(|name| seen.insert(name.clone())));
        if got < page || all.len() == before {
            return Ok(all);
        }
    }
}

/// oci-client's descriptor for an OCI one, for its blob requests.
pub(super) fn oci_descriptor(descriptor: &Descriptor) -> OciDescriptor {
    OciDescriptor {
        media_type: descriptor.media_type().to_string(),
        digest: descriptor.digest().to_string(),
        size: i64::try_from(descriptor.size()).unwrap_or(i64::MAX),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    /// A registry's list of `names`, `n` at a time after `last`, as the distribution
    /// API pages it; `ignores_last` sends the first page whatever `last` says.
    fn pages(names: &[&str], ignores_last: bool) -> impl Fn(Option<String>, usize) -> Vec<String> {
        let names: Vec<String> = names.iter().map(|n| (*n).to_string()).collect();
        move |last, n| {
            let from = match last {
                Some(last) if !ignores_last => {
                    names.iter().position(|x| *x == last).map_or(0, |i| i + 1)
                }
                _ => 0,
            };
            names.iter().skip(from).take(n).cloned().collect()
        }
    }

    #[tokio::test]
    async fn every_name_is_read_across_pages_and_a_full_last_page_ends_the_list() {
        let registry = pages(&["a", "b", "c", "d"], false);
        let asked = RefCell::new(Vec::new());
        let all = every_page(2, |last| {
            asked.borrow_mut().push(last.clone());
            let answer = registry(last, 2);
            async move { Ok(answer) }
        })
        .await
        .unwrap();
        assert_eq!(all, ["a", "b", "c", "d"]);
        // The third page is empty: that is how a list of exactly two pages ends.
        assert_eq!(*asked.borrow(), [None, Some("b".into()), Some("d".into())]);
    }

    #[tokio::test]
    async fn a_registry_that_ignores_last_ends_after_one_page_without_repeats() {
        let registry = pages(&["a", "b", "c"], true);
        let all = every_page(2, |last| std::future::ready(Ok(registry(last, 2))))
            .await
            .unwrap();
        assert_eq!(all, ["a", "b"]);
    }

    #[tokio::test]
    async fn a_failed_page_fails_the_list() {
        let mut calls = 0;
        let result = every_page(1, |_| {
            calls += 1;
            std::future::ready(if calls == 1 {
                Ok(vec!["a".to_string()])
            } else {
                Err(RegistryError::BadAnswer {
                    reference: "localhost:5000".into(),
                    reason: "the second page was cut off".into(),
                })
            })
        })
        .await;
        assert!(
            matches!(&result, Err(RegistryError::BadAnswer { reason, .. }) if reason.contains("cut off")),
            "{result:?}"
        );
    }
}
