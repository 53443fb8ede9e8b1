//! Writing to a registry: blobs mounted or copied, manifests pushed by digest or tag,
//! and deleted.

use std::sync::{Arc, Mutex};

use oci_client::Reference;

use super::credentials::auth_for;
use super::error::{RegistryError, Result};
use super::sha256_digest;
use super::{Fetched, Registry};
use crate::oci::index::Manifest;

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

impl Registry {
    /// Makes `source`'s image manifest `digest` (and its config and layers) available
    /// in `target`'s repository: blobs already there are skipped, blobs in the same
    /// registry are mounted, others are copied; `on_blob` hears of each.
    ///
    /// # Errors
    /// As [`Registry::fetch`], plus a refused push.
    pub(crate) async fn copy_image(
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
    pub(crate) async fn copy_fetched(
        &self,
        source: &Reference,
        fetched: &Fetched,
        target: &Reference,
        on_blob: &(dyn Fn(BlobCopied) + Sync),
    ) -> Result<()> {
        let digest = fetched.digest.as_str();
        let source_by_digest = source.clone_with_digest(digest.to_string());
        let Manifest::Image(image) = &fetched.manifest else {
            return Err(RegistryError::BadAnswer {
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
            // Each blob is one retried step: a failed upload starts again from its first
            // byte, and a blob an earlier try did send is then found there.
            let how = self
                .retrying(
                    || format!("the copy of blob {blob_digest} to `{}`", target.whole()),
                    || async {
                        let present = same_repository
                            || oci
                                .blob_exists(target, &blob_digest)
                                .await
                                .map_err(|e| self.classify(target, e))?;
                        if present {
                            return Ok(BlobMove::AlreadyThere);
                        }
                        let mounted = same_registry
                            && oci.mount_blob(target, source, &blob_digest).await.is_ok()
                            && oci.blob_exists(target, &blob_digest).await.unwrap_or(false);
                        if mounted {
                            return Ok(BlobMove::Mounted);
                        }
                        self.stream_blob(&source_by_digest, blob, target).await?;
                        Ok(BlobMove::Sent)
                    },
                )
                .await?;
            on_blob(BlobCopied {
                digest: blob_digest.clone(),
                size: blob.size(),
                how,
            });
        }
        self.push_manifest(
            &target.clone_with_digest(digest.to_string()),
            fetched.bytes.clone(),
            &fetched.manifest.media_type(),
        )
        .await?;
        Ok(())
    }

    /// Streams one blob from `source` to `target`: memory is bounded by the transport's
    /// buffers, not by the blob, and its digest is checked as the bytes pass (oci-client's
    /// verifying stream), so altered content ends the upload before the registry commits it.
    ///
    /// # Errors
    /// [`RegistryError::DigestMismatch`] for altered content; a transport failure on either side
    /// as [`Registry::classify`] says (transient ones are retried by the caller).
    async fn stream_blob(
        &self,
        source: &Reference,
        blob: &oci_spec::image::Descriptor,
        target: &Reference,
    ) -> Result<()> {
        use futures_util::TryStreamExt;

        let oci = self.oci().await;
        let wanted = super::read::oci_descriptor(blob);
        let pulled = oci
            .pull_blob_stream(source, &wanted)
            .await
            .map_err(|e| self.classify(source, e))?;
        // Why the download side ended early, if it did: the upload then fails too, and
        // this says which side to blame.
        let cut: Arc<Mutex<Option<std::io::Error>>> = Arc::default();
        let stream = pulled.stream.map_err({
            let cut = cut.clone();
            move |e| {
                let message = e.to_string();
                *cut.lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(e);
                oci_client::errors::OciDistributionError::GenericError(Some(message))
            }
        });
        let pushed = oci
            .push_blob_stream(target, stream, blob.digest().as_ref(), Some(blob.size()))
            .await;
        let cut = cut
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        match (pushed, cut) {
            (_, Some(e)) => Err(self.stream_failure(source, blob, e)),
            (Ok(_), None) => Ok(()),
            (Err(e), None) => Err(self.classify(target, e)),
        }
    }

    /// Uploads a blob unless the repository has it already; returns its digest.
    ///
    /// # Errors
    /// As [`Registry::fetch`].
    pub(crate) async fn push_blob(&self, target: &Reference, bytes: Vec<u8>) -> Result<String> {
        let digest = sha256_digest(&bytes);
        let oci = self.oci().await;
        oci.store_auth_if_needed(target.resolve_registry(), &auth_for(target))
            .await;
        let bytes = bytes::Bytes::from(bytes);
        self.retrying(
            || format!("the upload of blob {digest} to `{}`", target.whole()),
            || async {
                let present = oci
                    .blob_exists(target, &digest)
                    .await
                    .map_err(|e| self.classify(target, e))?;
                if !present {
                    oci.push_blob(target, bytes.clone(), &digest)
                        .await
                        .map_err(|e| self.classify(target, e))?;
                }
                Ok(())
            },
        )
        .await?;
        Ok(digest)
    }

    /// Deletes a manifest by digest, from a registry spoken to over plain HTTP (a local
    /// one, whose `storage.delete` is on as the test bed's is).
    ///
    /// # Errors
    /// [`RegistryError::Unreachable`], or [`RegistryError::BadAnswer`] when the registry refuses.
    pub(crate) async fn delete_manifest(&self, reference: &Reference, digest: &str) -> Result<()> {
        self.settle().await;
        let registry = reference.resolve_registry();
        if !self.uses_http(registry) {
            return Err(RegistryError::BadAnswer {
                reference: reference.whole(),
                reason: "manifests are deleted only from plain-HTTP (local) registries".into(),
            });
        }
        let url = format!(
            "http://{registry}/v2/{}/manifests/{digest}",
            reference.repository()
        );
        self.retrying(
            || format!("DELETE {url}"),
            || async {
                let response = self
                    .plain
                    .delete(&url)
                    .send()
                    .await
                    .map_err(|e| RegistryError::unreachable(registry, e.into()))?;
                match response.status().as_u16() {
                    202 | 404 => Ok(()),
                    status => {
                        Err(
                            super::retry::transient_answer(reference, status, response.headers())
                                .unwrap_or_else(|| RegistryError::BadAnswer {
                                    reference: reference.whole(),
                                    reason: format!("`DELETE {url}` answered {status}"),
                                }),
                        )
                    }
                }
            },
        )
        .await
    }

    /// Pushes manifest bytes as they are; returns their digest.
    ///
    /// # Errors
    /// The registry refuses the push or cannot be reached.
    pub(crate) async fn push_manifest(
        &self,
        target: &Reference,
        bytes: Vec<u8>,
        media_type: &str,
    ) -> Result<String> {
        self.oci()
            .await
            .store_auth_if_needed(target.resolve_registry(), &auth_for(target))
            .await;
        let content_type: reqwest::header::HeaderValue =
            media_type.parse().map_err(|_| RegistryError::BadAnswer {
                reference: target.whole(),
                reason: format!("`{media_type}` is not a valid media type"),
            })?;
        let digest = sha256_digest(&bytes);
        self.retrying(
            || format!("PUT the manifest `{}`", target.whole()),
            || async {
                self.oci()
                    .await
                    .push_manifest_raw(target, bytes.clone(), content_type.clone())
                    .await
                    .map_err(|e| self.classify(target, e))
            },
        )
        .await?;
        Ok(digest)
    }
}
