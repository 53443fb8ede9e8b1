//! Changing an index without rebuilding anything: entries added, replaced or removed
//! (an image always with its attestations), annotations set on the index or on its
//! descriptors. The index is edited as JSON, so every field it had (its own annotations,
//! keys this tool does not know) stays as it was.

use std::collections::HashSet;

use multiarch_platform::Platform;

use crate::oci::index::{Entry, EntryKind, Manifest, entries};

/// Why an edit cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    /// Not an index.
    #[error("not an index: {0}")]
    NotIndex(String),
    /// The platform is not in the index.
    #[error("the index has no image for {platform} (it has: {available})")]
    NoSuchPlatform {
        /// Asked for.
        platform: Platform,
        /// What it has.
        available: String,
    },
    /// Removing it would leave an index of attestations only.
    #[error("{0} is the index's last platform: an index needs at least one image")]
    LastPlatform(Platform),
    /// An annotation argument that does not parse.
    #[error(
        "`{0}` is not an annotation: write KEY=VALUE, index:KEY=VALUE or manifest-descriptor[PLATFORM]:KEY=VALUE"
    )]
    BadAnnotation(String),
}

/// Where an annotation goes, as buildx's `--annotation` prefixes say it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnnotationTarget {
    /// The index's own annotations (`index:`).
    Index,
    /// The descriptors of the images of these platforms, or of every image
    /// (`manifest-descriptor:`, `manifest-descriptor[linux/arm64]:`).
    Descriptors(Option<Platform>),
}

/// `[index:|manifest-descriptor[PLATFORM]:]KEY=VALUE`; without a prefix, the index, or
/// the descriptors of `platform` when one is given.
///
/// # Errors
/// [`EditError::BadAnnotation`].
pub fn parse_annotation(
    text: &str,
    platform: Option<&Platform>,
) -> Result<(AnnotationTarget, String, String), EditError> {
    let bad = || EditError::BadAnnotation(text.to_string());
    let (target, pair) = if let Some(rest) = text.strip_prefix("index:") {
        (AnnotationTarget::Index, rest)
    } else if let Some(rest) = text.strip_prefix("manifest-descriptor") {
        let (filter, pair) = match rest.strip_prefix('[') {
            Some(inner) => {
                let (platform, pair) = inner.split_once("]:").ok_or_else(bad)?;
                (Some(platform.parse::<Platform>().map_err(|_| bad())?), pair)
            }
            None => (None, rest.strip_prefix(':').ok_or_else(bad)?),
        };
        (
            AnnotationTarget::Descriptors(filter.or_else(|| platform.cloned())),
            pair,
        )
    } else if platform.is_some() {
        (AnnotationTarget::Descriptors(platform.cloned()), text)
    } else {
        (AnnotationTarget::Index, text)
    };
    let (key, value) = pair.split_once('=').ok_or_else(bad)?;
    // `manifest:` and `index-descriptor:` would rewrite manifests, changing digests.
    if key.is_empty() || key.contains(':') {
        return Err(bad());
    }
    Ok((target, key.to_string(), value.to_string()))
}

/// An index being edited.
#[derive(Debug, Clone)]
pub struct IndexEdit {
    value: serde_json::Value,
}

impl IndexEdit {
    /// Reads index bytes.
    ///
    /// # Errors
    /// [`EditError::NotIndex`] for anything else.
    pub fn parse(bytes: &[u8]) -> Result<Self, EditError> {
        match Manifest::parse(bytes) {
            Ok(Manifest::Index(_)) => {}
            Ok(Manifest::Image(_)) => return Err(EditError::NotIndex("an image manifest".into())),
            Err(e) => return Err(EditError::NotIndex(e.to_string())),
        }
        let value =
            serde_json::from_slice(bytes).map_err(|e| EditError::NotIndex(e.to_string()))?;
        Ok(Self { value })
    }

    /// An OCI index holding `descriptors` (JSON descriptors, as an index lists them).
    pub fn with(descriptors: Vec<serde_json::Value>) -> Self {
        Self {
            value: serde_json::json!({
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.index.v1+json",
                "manifests": descriptors,
            }),
        }
    }

    /// The index's entries, classified.
    pub fn entries(&self) -> Vec<Entry> {
        match Manifest::parse(&self.bytes()) {
            Ok(Manifest::Index(index)) => entries(&index),
            _ => Vec::new(),
        }
    }

    /// Its media type, as it says.
    pub fn media_type(&self) -> String {
        self.value
            .get("mediaType")
            .and_then(|m| m.as_str())
            .unwrap_or("application/vnd.oci.image.index.v1+json")
            .to_string()
    }

    /// The bytes to push.
    pub fn bytes(&self) -> Vec<u8> {
        serde_json::to_vec(&self.value).expect("JSON serialises")
    }

    fn manifests(&mut self) -> &mut Vec<serde_json::Value> {
        if !self.value["manifests"].is_array() {
            self.value["manifests"] = serde_json::Value::Array(Vec::new());
        }
        self.value["manifests"].as_array_mut().expect("an array")
    }

    /// The digests of `platform`'s images and of the attestations about them.
    fn digests_of(&self, platform: &Platform) -> HashSet<String> {
        let listed = self.entries();
        let images: HashSet<String> = listed
            .iter()
            .filter(|e| e.platform() == Some(platform))
            .map(|e| e.digest.clone())
            .collect();
        listed
            .iter()
            .filter(|e| match &e.kind {
                EntryKind::Attestation { subject, .. } => images.contains(subject),
                _ => images.contains(&e.digest),
            })
            .map(|e| e.digest.clone())
            .collect()
    }

    fn available(&self) -> String {
        multiarch_platform::join_platforms(&crate::oci::index::platforms(&self.entries()))
    }

    /// Removes the entries of `digests` (any kind), leaving the rest in their order.
    pub fn remove_digests(&mut self, digests: &[String]) {
        self.manifests().retain(|m| {
            m.get("digest")
                .and_then(|d| d.as_str())
                .is_none_or(|d| !digests.iter().any(|gone| gone == d))
        });
    }

    /// Appends a descriptor as it is.
    pub fn push_descriptor(&mut self, descriptor: serde_json::Value) {
        self.manifests().push(descriptor);
    }

    /// Removes `platform`'s image and its attestations.
    ///
    /// # Errors
    /// [`EditError::NoSuchPlatform`], [`EditError::LastPlatform`].
    pub fn remove(&mut self, platform: &Platform) -> Result<(), EditError> {
        let gone = self.digests_of(platform);
        if gone.is_empty() {
            return Err(EditError::NoSuchPlatform {
                platform: platform.clone(),
                available: self.available(),
            });
        }
        if crate::oci::index::platforms(&self.entries()).len() == 1 {
            return Err(EditError::LastPlatform(platform.clone()));
        }
        self.manifests().retain(|m| {
            m.get("digest")
                .and_then(|d| d.as_str())
                .is_none_or(|d| !gone.contains(d))
        });
        Ok(())
    }

    /// Adds an image (its descriptor, with its platform) and the descriptors of its
    /// attestations; an image already there for that platform goes, with its own
    /// attestations. Returns whether one was replaced.
    pub fn add(
        &mut self,
        platform: &Platform,
        image: serde_json::Value,
        attestations: Vec<serde_json::Value>,
    ) -> bool {
        let replaced = self.digests_of(platform);
        self.manifests().retain(|m| {
            m.get("digest")
                .and_then(|d| d.as_str())
                .is_none_or(|d| !replaced.contains(d))
        });
        let list = self.manifests();
        list.push(image);
        list.extend(attestations);
        !replaced.is_empty()
    }

    /// Sets an annotation.
    ///
    /// # Errors
    /// [`EditError::NoSuchPlatform`] when the target names a platform the index lacks.
    pub fn annotate(
        &mut self,
        target: &AnnotationTarget,
        key: &str,
        value: &str,
    ) -> Result<(), EditError> {
        let set = |object: &mut serde_json::Value| {
            if !object["annotations"].is_object() {
                object["annotations"] = serde_json::json!({});
            }
            object["annotations"][key] = value.into();
        };
        match target {
            AnnotationTarget::Index => set(&mut self.value),
            AnnotationTarget::Descriptors(filter) => {
                let images: HashSet<String> = self
                    .entries()
                    .iter()
                    .filter(|e| match (&e.kind, filter) {
                        (EntryKind::Image { .. }, None) => true,
                        (EntryKind::Image { platform }, Some(wanted)) => platform == wanted,
                        _ => false,
                    })
                    .map(|e| e.digest.clone())
                    .collect();
                if images.is_empty() {
                    return Err(EditError::NoSuchPlatform {
                        platform: filter.clone().unwrap_or_else(Platform::linux_amd64),
                        available: self.available(),
                    });
                }
                for manifest in self.manifests() {
                    if manifest
                        .get("digest")
                        .and_then(|d| d.as_str())
                        .is_some_and(|d| images.contains(d))
                    {
                        set(manifest);
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INDEX: &str = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[
      {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","size":1,"platform":{"architecture":"amd64","os":"linux"}},
      {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb","size":1,"platform":{"architecture":"arm64","os":"linux"}},
      {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd","size":1,"platform":{"architecture":"unknown","os":"unknown"},"annotations":{"vnd.docker.reference.digest":"sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb","vnd.docker.reference.type":"attestation-manifest"}}
    ],"annotations":{"org.opencontainers.image.created":"2026-11-25"}}"#;

    fn names(edit: &IndexEdit) -> Vec<String> {
        edit.entries()
            .iter()
            .map(|e| match &e.kind {
                EntryKind::Image { platform } => platform.to_string(),
                EntryKind::Attestation {
                    subject_platform, ..
                } => format!(
                    "attestation for {}",
                    subject_platform
                        .as_ref()
                        .map(ToString::to_string)
                        .unwrap_or_default()
                ),
                EntryKind::Unknown { platform } => platform.clone(),
            })
            .collect()
    }

    #[test]
    fn removing_a_platform_takes_its_attestation_and_keeps_the_rest() {
        let mut edit = IndexEdit::parse(INDEX.as_bytes()).unwrap();
        edit.remove(&Platform::linux_arm64()).unwrap();
        assert_eq!(names(&edit), ["linux/amd64"]);
        assert_eq!(
            edit.value["annotations"]["org.opencontainers.image.created"],
            "2026-11-25"
        );
        assert_eq!(
            edit.remove(&Platform::linux_amd64()),
            Err(EditError::LastPlatform(Platform::linux_amd64()))
        );
        let missing = edit.remove(&"linux/s390x".parse().unwrap()).unwrap_err();
        assert!(
            missing.to_string().contains("it has: linux/amd64"),
            "{missing}"
        );
    }

    #[test]
    fn adding_a_platform_that_is_there_replaces_it_with_its_attestations() {
        let mut edit = IndexEdit::parse(INDEX.as_bytes()).unwrap();
        let image = serde_json::json!({"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":format!("sha256:{}", "e".repeat(64)),"size":2,"platform":{"architecture":"arm64","os":"linux"}});
        assert!(edit.add(&Platform::linux_arm64(), image, Vec::new()));
        assert_eq!(names(&edit), ["linux/amd64", "linux/arm64"]);
        let riscv = serde_json::json!({"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":format!("sha256:{}", "f".repeat(64)),"size":2,"platform":{"architecture":"riscv64","os":"linux"}});
        assert!(!edit.add(&"linux/riscv64".parse().unwrap(), riscv, Vec::new()));
        assert_eq!(names(&edit).len(), 3);
    }

    #[test]
    fn annotations_go_where_buildx_prefixes_say() {
        let arm = Platform::linux_arm64();
        assert_eq!(
            parse_annotation("org.opencontainers.image.description=tiny", None).unwrap(),
            (
                AnnotationTarget::Index,
                "org.opencontainers.image.description".into(),
                "tiny".into()
            )
        );
        assert_eq!(
            parse_annotation("manifest-descriptor[linux/arm64]:a.b=c", None)
                .unwrap()
                .0,
            AnnotationTarget::Descriptors(Some(arm.clone()))
        );
        assert_eq!(
            parse_annotation("a.b=c", Some(&arm)).unwrap().0,
            AnnotationTarget::Descriptors(Some(arm.clone()))
        );
        assert_eq!(
            parse_annotation("index:a.b=c", Some(&arm)).unwrap().0,
            AnnotationTarget::Index
        );
        assert!(parse_annotation("no-equals", None).is_err());
        assert!(
            parse_annotation("manifest:a=b", None).is_err(),
            "manifests themselves are not rewritten"
        );

        let mut edit = IndexEdit::parse(INDEX.as_bytes()).unwrap();
        edit.annotate(&AnnotationTarget::Descriptors(Some(arm)), "a.b", "c")
            .unwrap();
        edit.annotate(&AnnotationTarget::Index, "x.y", "z").unwrap();
        assert_eq!(edit.value["manifests"][1]["annotations"]["a.b"], "c");
        assert!(edit.value["manifests"][0].get("annotations").is_none());
        assert_eq!(edit.value["annotations"]["x.y"], "z");
        assert_eq!(
            edit.value["annotations"]["org.opencontainers.image.created"],
            "2026-11-25"
        );
    }
}
