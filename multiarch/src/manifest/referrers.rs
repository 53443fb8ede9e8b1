//! `manifest referrers`: an index's attestation manifests (BuildKit keeps them in the
//! index as `unknown/unknown` entries, which `oras discover` and other referrer-minded
//! tools do not see) moved out, each becoming an OCI referrer of the image it is about:
//! its manifest gains a `subject` and an `artifactType`, is pushed by digest, and is found
//! through the referrers API where the registry has one, else through the referrers tag
//! schema (`sha256-<hex>`, an index of descriptors, as distribution 2.8 and 3.x need).
//! The index is written last, with the same platform manifests, so every platform keeps
//! its digest; a failure before then leaves the tag as it was.

use oci_client::Reference;

use crate::error::{Error, Result};
use crate::oci::edit::IndexEdit;
use crate::oci::index::{EntryKind, Manifest};
use crate::registry::{Registry, RegistryError};

use multiarch_platform::Platform;

/// BuildKit's artifact type for an attestation manifest pushed as an OCI artifact.
pub const ATTESTATION_ARTIFACT_TYPE: &str = "application/vnd.docker.attestation.manifest.v1+json";

/// One attestation manifest made a referrer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Moved {
    /// The platform of the image it is about.
    pub platform: Option<Platform>,
    /// That image's digest (the referrer's subject).
    pub subject: String,
    /// Its digest in the index before.
    pub before: String,
    /// Its digest as a referrer (a subject changes the manifest's bytes).
    pub after: String,
    /// How it is found: `api` (the registry lists it) or `tag-schema`.
    pub found_through: &'static str,
}

/// What the move did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Referred {
    /// The index's digest before.
    pub before: String,
    /// The index's digest now (the same when there was nothing to move).
    pub after: String,
    /// Each attestation moved.
    pub moved: Vec<Moved>,
}

/// Moves every attestation manifest of the index under `target` to the referrers of its
/// subject, then writes the index without them under `target`'s tag.
///
/// # Errors
/// `target` is no index ([`RegistryError::BadAnswer`]); an attestation about an image the
/// index does not hold ([`Error::BadEdit`]'s kind of fault, said as the registry's
/// unusable answer); the registry's own failures. The tag moves only at the end.
pub async fn move_to_referrers(registry: &Registry, target: &Reference) -> Result<Referred> {
    let fetched = registry.fetch(target).await?;
    let Manifest::Index(_) = &fetched.manifest else {
        return Err(Error::Registry(RegistryError::BadAnswer {
            reference: target.whole(),
            reason: "an image manifest, not an index: it has no attestation manifests to move"
                .into(),
        }));
    };
    let mut edit = IndexEdit::parse(&fetched.bytes).map_err(|e| {
        Error::Registry(RegistryError::BadAnswer {
            reference: target.whole(),
            reason: e.to_string(),
        })
    })?;
    let entries = edit.entries();
    let mut moved = Vec::new();
    for entry in &entries {
        let EntryKind::Attestation {
            subject,
            subject_platform,
        } = &entry.kind
        else {
            continue;
        };
        let Some(image) = entries.iter().find(|e| &e.digest == subject) else {
            return Err(Error::Registry(RegistryError::BadAnswer {
                reference: target.whole(),
                reason: format!(
                    "the attestation {} is about {subject}, which the index does not hold",
                    entry.digest
                ),
            }));
        };
        let attestation = registry
            .fetch(&target.clone_with_digest(entry.digest.clone()))
            .await?;
        let bytes = with_subject(&attestation.bytes, &image.media_type, subject, image.size)
            .map_err(|reason| {
                Error::Registry(RegistryError::BadAnswer {
                    reference: target.clone_with_digest(entry.digest.clone()).whole(),
                    reason,
                })
            })?;
        let media_type = "application/vnd.oci.image.manifest.v1+json";
        let digest = crate::registry::sha256_digest(&bytes);
        let size = bytes.len() as u64;
        registry
            .push_manifest(&target.clone_with_digest(digest.clone()), bytes, media_type)
            .await?;
        let subject_reference = target.clone_with_digest(subject.clone());
        let listed = |referrers: &[serde_json::Value]| {
            referrers
                .iter()
                .any(|r| r["digest"].as_str() == Some(digest.as_str()))
        };
        // A registry with the referrers API lists it as soon as it is pushed; one without
        // (404, read through the tag schema) needs the tag schema's index updated.
        let found_through = if listed(&registry.referrers(&subject_reference).await?) {
            "api"
        } else {
            add_to_tag_schema(registry, target, subject, &digest, size).await?;
            "tag-schema"
        };
        moved.push(Moved {
            platform: subject_platform.clone(),
            subject: subject.clone(),
            before: entry.digest.clone(),
            after: digest,
            found_through,
        });
    }
    if moved.is_empty() {
        return Ok(Referred {
            before: fetched.digest.clone(),
            after: fetched.digest,
            moved,
        });
    }
    let gone: Vec<String> = moved.iter().map(|m| m.before.clone()).collect();
    edit.remove_digests(&gone);
    let after = registry
        .push_manifest(target, edit.bytes(), &edit.media_type())
        .await?;
    Ok(Referred {
        before: fetched.digest,
        after,
        moved,
    })
}

/// The attestation manifest's bytes with `subject` (the image it is about) and BuildKit's
/// artifact type; every other field kept.
fn with_subject(
    bytes: &[u8],
    media_type: &str,
    digest: &str,
    size: u64,
) -> std::result::Result<Vec<u8>, String> {
    let mut manifest: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
    let object = manifest
        .as_object_mut()
        .ok_or_else(|| "not a JSON object".to_string())?;
    object.insert(
        "mediaType".into(),
        "application/vnd.oci.image.manifest.v1+json".into(),
    );
    object
        .entry("artifactType")
        .or_insert_with(|| ATTESTATION_ARTIFACT_TYPE.into());
    object.insert(
        "subject".into(),
        serde_json::json!({ "mediaType": media_type, "digest": digest, "size": size }),
    );
    serde_json::to_vec(&manifest).map_err(|e| e.to_string())
}

/// Adds the referrer `digest` to the tag schema's index of `subject` (`sha256-<hex>` in
/// `target`'s repository), made when it is not there, as the OCI distribution spec has a
/// client do for a registry without the referrers API.
async fn add_to_tag_schema(
    registry: &Registry,
    target: &Reference,
    subject: &str,
    digest: &str,
    size: u64,
) -> Result<()> {
    let tag = subject.replacen(':', "-", 1);
    let at = Reference::with_tag(
        target.registry().to_string(),
        target.repository().to_string(),
        tag,
    );
    let mut edit = match registry.fetch(&at).await {
        Ok(fetched) => IndexEdit::parse(&fetched.bytes).map_err(|e| {
            Error::Registry(RegistryError::BadAnswer {
                reference: at.whole(),
                reason: e.to_string(),
            })
        })?,
        Err(RegistryError::NotFound { .. }) => IndexEdit::with(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    edit.remove_digests(&[digest.to_string()]);
    edit.push_descriptor(serde_json::json!({
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": digest,
        "size": size,
        "artifactType": ATTESTATION_ARTIFACT_TYPE,
    }));
    registry
        .push_manifest(&at, edit.bytes(), &edit.media_type())
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_attestation_gains_its_subject_and_artifact_type_and_keeps_the_rest() {
        let manifest = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:c","size":2},"layers":[{"mediaType":"application/vnd.in-toto+json","digest":"sha256:l","size":9,"annotations":{"in-toto.io/predicate-type":"https://slsa.dev/provenance/v0.2"}}]}"#;
        let bytes = with_subject(
            manifest,
            "application/vnd.oci.image.manifest.v1+json",
            "sha256:s",
            42,
        )
        .unwrap();
        let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(value["subject"]["digest"], "sha256:s");
        assert_eq!(value["subject"]["size"], 42);
        assert_eq!(value["artifactType"], ATTESTATION_ARTIFACT_TYPE);
        assert_eq!(
            value["layers"][0]["annotations"]["in-toto.io/predicate-type"],
            "https://slsa.dev/provenance/v0.2"
        );
        assert!(with_subject(b"[]", "x", "sha256:s", 1).is_err());
    }
}
