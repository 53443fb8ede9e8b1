//! Every tag of a release written from one index, or none: each tag's manifest is read
//! first, the index written under it and read back; when a write fails, the tags already
//! moved are put back (a tag that did not exist goes with the new index, deleted by digest
//! where nothing else names it), so no tag is left pointing at an index the release did not
//! finish.

use oci_client::Reference;

use super::{Picked, bring};
use crate::error::Result;
use crate::registry::{Registry, RegistryError};

/// What happened to one tag.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum TagState {
    /// It names the new index, read back.
    Moved {
        /// What it named before (`None`: it was new).
        before: Option<String>,
    },
    /// Put back to what it named before the release.
    Restored {
        /// That digest.
        to: String,
    },
    /// A new tag that went with the new index, deleted by digest.
    Removed,
    /// Not written: an earlier write failed.
    Untouched,
    /// The write that failed.
    Failed {
        /// Why.
        reason: String,
    },
    /// Left naming the new index: putting it back failed too.
    Stuck {
        /// Why.
        reason: String,
    },
}

/// Every tag's fate, in the order written.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Tagged {
    /// The index's digest.
    pub digest: String,
    /// Each tag (`registry/repository:tag`) and what happened to it.
    pub tags: Vec<(String, TagState)>,
}

impl Tagged {
    /// Whether every tag names the new index.
    pub fn complete(&self) -> bool {
        self.tags
            .iter()
            .all(|(_, state)| matches!(state, TagState::Moved { .. }))
    }
}

/// Writes `index` (its bytes and media type, listing `picked`) under every tag of `tags`,
/// the first of which is the release's own; what `picked` lists is copied first into each
/// tag's repository that lacks it.
///
/// # Errors
/// Only when nothing was written: the first tag's copy or read failed. Failures after
/// that are [`TagState`]s, with what was put back.
pub async fn write_all(
    registry: &Registry,
    picked: &[Picked],
    bytes: Vec<u8>,
    media_type: &str,
    tags: &[Reference],
) -> Result<Tagged> {
    let digest = crate::registry::sha256_digest(&bytes);
    let mut states: Vec<(String, TagState)> = tags
        .iter()
        .map(|t| (t.whole(), TagState::Untouched))
        .collect();
    // What each tag named before (bytes, media type, digest), for putting it back.
    let mut before: Vec<Option<(Vec<u8>, String, String)>> = Vec::new();
    let mut failed: Option<(usize, bool)> = None;
    for (i, tag) in tags.iter().enumerate() {
        let mut previous = None;
        let mut pushed = false;
        let written: Result<()> = async {
            for offer in picked {
                bring(registry, offer, tag).await?;
            }
            previous = match registry.fetch(tag).await {
                Ok(fetched) => Some((
                    fetched.bytes.clone(),
                    fetched.manifest.media_type(),
                    fetched.digest,
                )),
                Err(RegistryError::NotFound { .. }) => None,
                Err(e) => return Err(e.into()),
            };
            registry
                .push_manifest(tag, bytes.clone(), media_type)
                .await?;
            pushed = true;
            let read_back = registry.head(tag).await?;
            if read_back.digest != digest {
                return Err(RegistryError::DigestMismatch {
                    reference: tag.whole(),
                    expected: digest.clone(),
                }
                .into());
            }
            Ok(())
        }
        .await;
        let was = previous.as_ref().map(|(_, _, d)| d.clone());
        before.push(previous);
        match written {
            Ok(()) => states[i].1 = TagState::Moved { before: was },
            // Nothing was written anywhere: the release stops as it was.
            Err(e) if i == 0 && !pushed => return Err(e),
            Err(e) => {
                states[i].1 = TagState::Failed {
                    reason: crate::error::chain(&e),
                };
                failed = Some((i, pushed));
                break;
            }
        }
    }
    if let Some((last, last_pushed)) = failed {
        // Newest first: every tag moved before the failure, and the failed one when its
        // write went through before its read-back failed.
        for i in (0..=last).rev() {
            if i == last && !last_pushed {
                continue;
            }
            let tag = &tags[i];
            let put_back = match &before[i] {
                Some((bytes, media_type, was)) => registry
                    .push_manifest(tag, bytes.clone(), media_type)
                    .await
                    .map(|_| TagState::Restored { to: was.clone() }),
                None => remove_new_index(registry, tag, &digest, tags).await,
            };
            match put_back {
                // The failed tag keeps saying why it failed.
                Ok(_) if i == last => {}
                Ok(state) => states[i].1 = state,
                Err(e) => {
                    states[i].1 = TagState::Stuck {
                        reason: crate::error::chain(&e),
                    }
                }
            }
        }
    }
    Ok(Tagged {
        digest,
        tags: states,
    })
}

/// Takes a new tag away again: the only way the distribution API has is to delete the
/// index it names, by digest, which takes every tag naming it. So it is deleted only when
/// no other tag of the repository (one this release did not write) names it too.
async fn remove_new_index(
    registry: &Registry,
    tag: &Reference,
    digest: &str,
    ours: &[Reference],
) -> Result<TagState, RegistryError> {
    for other in registry.tags(tag, 100).await? {
        let named = Reference::with_tag(
            tag.registry().to_string(),
            tag.repository().to_string(),
            other.clone(),
        );
        if ours.iter().any(|o| o.whole() == named.whole()) {
            continue;
        }
        if registry
            .head(&named)
            .await
            .is_ok_and(|h| h.digest == digest)
        {
            return Ok(TagState::Stuck {
                reason: format!(
                    "`{other}` names the same index, which deleting it would take away too"
                ),
            });
        }
    }
    registry.delete_manifest(tag, digest).await?;
    Ok(TagState::Removed)
}
