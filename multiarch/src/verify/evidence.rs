//! The evidence a release carries, for every platform, found the ways consumers look for
//! it (`verify --evidence signature,provenance,sbom`): cosign's signature of the platform's
//! own digest (its `sha256-<hex>.sig` tag, or a referrer), and BuildKit's provenance and
//! SBOM (the attestation manifest the index lists for that digest, or a referrer). cosign
//! has no recursive verify: an index signed at the top with unsigned children passes
//! `cosign verify INDEX` and is refused by podman; a consumer resolving one platform gets
//! that platform's evidence or none, which is what is checked here.
//!
//! With a cosign public key, each signature is checked: the payload names the platform's
//! digest, and the ECDSA P-256 signature over it verifies against the key. From the
//! provenance, the platform the builder ran on is read, and from a `mode=max` one which
//! steps ran cross or emulated ([`super::provenance`]); `mode=min` names the builder
//! alone, which cannot tell a cross-compile from emulation.

use oci_client::Reference;
use serde::Serialize;

use multiarch_platform::Platform;

use crate::error::Result;
use crate::oci::index::{Entry, EntryKind, Manifest};
use crate::registry::{Registry, RegistryError};
use crate::verify::provenance::{self, Provenance, StepsRun};

/// A kind of evidence `--evidence` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A cosign signature of the platform's digest.
    Signature,
    /// SLSA provenance.
    Provenance,
    /// A software bill of materials.
    Sbom,
}

impl std::str::FromStr for Kind {
    type Err = String;

    fn from_str(text: &str) -> std::result::Result<Self, String> {
        match text {
            "signature" => Ok(Self::Signature),
            "provenance" => Ok(Self::Provenance),
            "sbom" => Ok(Self::Sbom),
            _ => Err(format!(
                "`{text}` is not a kind of evidence: signature, provenance or sbom"
            )),
        }
    }
}

/// One kind of evidence for one platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "lowercase")]
pub enum Found {
    /// There, and (a signature with `--key`) checked.
    Verified {
        /// Where it was found.
        at: String,
    },
    /// There; a signature without `--key` is not checked, only found.
    Present {
        /// Where it was found.
        at: String,
    },
    /// Not there.
    Missing {
        /// Where it was looked for.
        looked: String,
    },
    /// There, and wrong: a signature over another digest, or one the key refuses.
    Invalid {
        /// Why.
        why: String,
    },
}

impl Found {
    /// Whether this fails the release.
    pub fn failed(&self) -> bool {
        matches!(self, Self::Missing { .. } | Self::Invalid { .. })
    }
}

/// The evidence of one platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlatformEvidence {
    /// The platform.
    pub platform: Platform,
    /// Its image manifest's digest.
    pub digest: String,
    /// Each kind asked for.
    pub found: Vec<(Kind, Found)>,
    /// The platform the builder ran on, from the provenance.
    pub built_on: Option<Platform>,
    /// Which steps ran cross or emulated, from a `mode=max` provenance.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provenance_steps: Option<StepsRun>,
}

/// A cosign public key (ECDSA P-256, as `cosign generate-key-pair` makes it).
#[derive(Debug, Clone)]
pub struct CosignKey {
    point: Vec<u8>,
}

/// The DER prefix of every P-256 SubjectPublicKeyInfo, before its 65-byte point.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

impl CosignKey {
    /// Reads a `-----BEGIN PUBLIC KEY-----` PEM file.
    ///
    /// # Errors
    /// Not PEM, or not an ECDSA P-256 key (cosign's default).
    pub fn from_pem(pem: &str) -> std::result::Result<Self, String> {
        use base64::Engine;
        let body: String = pem
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect::<Vec<_>>()
            .concat();
        let der = base64::engine::general_purpose::STANDARD
            .decode(body.trim())
            .map_err(|e| format!("not a PEM public key: {e}"))?;
        match der.strip_prefix(&P256_SPKI_PREFIX[..]) {
            Some(point) if point.len() == 65 => Ok(Self {
                point: point.to_vec(),
            }),
            _ => Err("not an ECDSA P-256 public key (cosign generate-key-pair makes one)".into()),
        }
    }

    fn verifies(&self, payload: &[u8], signature: &[u8]) -> bool {
        ring::signature::UnparsedPublicKey::new(
            &ring::signature::ECDSA_P256_SHA256_ASN1,
            &self.point,
        )
        .verify(payload, signature)
        .is_ok()
    }
}

/// The `in-toto.io/predicate-type` of SLSA provenance (v0.2 and v1) and of SBOMs.
fn predicate_kind(predicate: &str) -> Option<Kind> {
    if predicate.starts_with("https://slsa.dev/provenance/") {
        Some(Kind::Provenance)
    } else if predicate.starts_with("https://spdx.dev/Document")
        || predicate.starts_with("https://cyclonedx.org/bom")
    {
        Some(Kind::Sbom)
    } else {
        None
    }
}

/// The evidence of every platform of `entries` (the index of `reference`) of the kinds in
/// `wanted`; signatures checked with `key` when given.
///
/// # Errors
/// The registry cannot be read (evidence that is not there is a finding, not an error).
pub async fn gather(
    registry: &Registry,
    reference: &Reference,
    entries: &[Entry],
    wanted: &[Kind],
    key: Option<&CosignKey>,
) -> Result<Vec<PlatformEvidence>> {
    let mut all = Vec::new();
    for entry in entries {
        let Some(platform) = entry.platform() else {
            continue;
        };
        let mut evidence = PlatformEvidence {
            platform: platform.clone(),
            digest: entry.digest.clone(),
            found: Vec::new(),
            built_on: None,
            provenance_steps: None,
        };
        let attested = attestations(registry, reference, entries, &entry.digest, platform).await?;
        for kind in wanted {
            let found = match kind {
                Kind::Signature => signature(registry, reference, &entry.digest, key).await?,
                Kind::Provenance | Kind::Sbom => match attested.iter().find(|a| a.kind == *kind) {
                    Some(attestation) => Found::Present {
                        at: attestation.at.clone(),
                    },
                    None => Found::Missing {
                        looked: "the index's attestation manifests and the digest's referrers"
                            .into(),
                    },
                },
            };
            evidence.found.push((*kind, found));
        }
        if let Some(provenance) = attested.iter().find(|a| a.kind == Kind::Provenance) {
            if let Some(read) = &provenance.read {
                evidence.built_on = read.built_on.clone();
                evidence.provenance_steps = read.steps.clone();
            }
        }
        all.push(evidence);
    }
    Ok(all)
}

/// An in-toto statement found for a digest.
struct Attested {
    kind: Kind,
    at: String,
    /// What a provenance statement says (`None` for an SBOM, or a statement unread).
    read: Option<Provenance>,
}

/// Every in-toto statement about `digest` (the image of `platform`): in the attestation
/// manifests the index lists for it, and in its referrers.
async fn attestations(
    registry: &Registry,
    reference: &Reference,
    entries: &[Entry],
    digest: &str,
    platform: &Platform,
) -> Result<Vec<Attested>> {
    let mut manifests: Vec<(String, String)> = entries
        .iter()
        .filter(|e| matches!(&e.kind, EntryKind::Attestation { subject, .. } if subject == digest))
        .map(|e| {
            (
                e.digest.clone(),
                format!(
                    "the index's attestation {}",
                    crate::oci::index::short(&e.digest)
                ),
            )
        })
        .collect();
    let subject = reference.clone_with_digest(digest.to_string());
    // Each referrer is read: the referrers tag's descriptors do not always carry the
    // artifact type of what they point at (cosign 3 writes the empty config's).
    for referrer in registry.referrers(&subject).await? {
        if let Some(d) = referrer["digest"].as_str() {
            manifests.push((
                d.to_string(),
                format!("the referrer {}", crate::oci::index::short(d)),
            ));
        }
    }
    let mut found = Vec::new();
    for (manifest, at) in manifests {
        let fetched = registry
            .fetch(&reference.clone_with_digest(manifest.clone()))
            .await?;
        let Manifest::Image(image) = &fetched.manifest else {
            continue;
        };
        for layer in image.layers() {
            let predicate = layer
                .annotations()
                .as_ref()
                .and_then(|a| a.get("in-toto.io/predicate-type"))
                .cloned()
                .unwrap_or_default();
            let Some(kind) = predicate_kind(&predicate) else {
                continue;
            };
            let read = if kind == Kind::Provenance {
                let statement = registry
                    .fetch_blob(&reference.clone_with_digest(manifest.clone()), layer)
                    .await?;
                provenance::read(&statement, platform)
            } else {
                None
            };
            found.push(Attested {
                kind,
                at: at.clone(),
                read,
            });
        }
    }
    Ok(found)
}

/// cosign's signatures of `digest`: its `sha256-<hex>.sig` tag (cosign 2), and the
/// signature referrers of the digest (cosign 3's sigstore bundles); with `key`, verified
/// when any one of them verifies (another signer's beside ours is no failure).
async fn signature(
    registry: &Registry,
    reference: &Reference,
    digest: &str,
    key: Option<&CosignKey>,
) -> Result<Found> {
    let tag = crate::copy::signatures::companion_tag(digest, ".sig").unwrap_or_default();
    let at_tag = Reference::with_tag(
        reference.registry().to_string(),
        reference.repository().to_string(),
        tag.clone(),
    );
    let mut signatures = Vec::new();
    match registry.fetch(&at_tag).await {
        Ok(fetched) => signatures.push((fetched, format!("the tag `{tag}`"))),
        Err(RegistryError::NotFound { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    let subject = reference.clone_with_digest(digest.to_string());
    for referrer in registry.referrers(&subject).await? {
        let Some(d) = referrer["digest"].as_str() else {
            continue;
        };
        let fetched = registry
            .fetch(&reference.clone_with_digest(d.to_string()))
            .await?;
        let text = String::from_utf8_lossy(&fetched.bytes);
        if text.contains("sigstore.bundle") || text.contains("dev.cosignproject.cosign") {
            signatures.push((
                fetched,
                format!("the referrer {}", crate::oci::index::short(d)),
            ));
        }
    }
    let Some((_, first)) = signatures.first() else {
        return Ok(Found::Missing {
            looked: format!("the tag `{tag}` and the digest's referrers"),
        });
    };
    let Some(key) = key else {
        return Ok(Found::Present {
            at: format!("{first} (not checked: no --key)"),
        });
    };
    let mut looked = Vec::new();
    for (manifest, at) in &signatures {
        if signed_with(registry, reference, manifest, digest, key).await? {
            return Ok(Found::Verified { at: at.clone() });
        }
        looked.push(at.clone());
    }
    Ok(Found::Invalid {
        why: format!(
            "{} hold(s) no signature of this digest that the key verifies",
            looked.join(", ")
        ),
    })
}

/// Whether the signature manifest `manifest` signs `digest` with `key`.
async fn signed_with(
    registry: &Registry,
    reference: &Reference,
    manifest: &crate::registry::Fetched,
    digest: &str,
    key: &CosignKey,
) -> Result<bool> {
    let Manifest::Image(image) = &manifest.manifest else {
        return Ok(false);
    };
    let signed_by = reference.clone_with_digest(manifest.digest.clone());
    for layer in image.layers() {
        let blob = || registry.fetch_blob(&signed_by, layer);
        // cosign 2: a simple-signing payload, its signature in the layer's annotation.
        if let Some(signature) = layer
            .annotations()
            .as_ref()
            .and_then(|a| a.get("dev.cosignproject.cosign/signature"))
        {
            let payload = blob().await?;
            if simple_signing_names(&payload, digest)
                && decode(signature).is_some_and(|sig| key.verifies(&payload, &sig))
            {
                return Ok(true);
            }
            continue;
        }
        // cosign 3: a sigstore bundle whose DSSE envelope holds an in-toto statement
        // about the digest, signed over DSSE's pre-authentication encoding.
        if layer.media_type().to_string().contains("sigstore.bundle") {
            let bundle: serde_json::Value =
                serde_json::from_slice(&blob().await?).unwrap_or_default();
            let envelope = &bundle["dsseEnvelope"];
            let kind = envelope["payloadType"].as_str().unwrap_or_default();
            let Some(payload) = envelope["payload"].as_str().and_then(decode) else {
                continue;
            };
            if !statement_names(&payload, digest) {
                continue;
            }
            let signed = pre_authentication(kind, &payload);
            let verified = envelope["signatures"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|s| s["sig"].as_str().and_then(decode))
                .any(|sig| key.verifies(&signed, &sig));
            if verified {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

fn decode(text: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(text).ok()
}

/// Whether a cosign simple-signing payload names `digest`.
fn simple_signing_names(payload: &[u8], digest: &str) -> bool {
    serde_json::from_slice::<serde_json::Value>(payload)
        .is_ok_and(|p| p["critical"]["image"]["docker-manifest-digest"] == digest)
}

/// Whether an in-toto statement's subjects include `digest`.
fn statement_names(payload: &[u8], digest: &str) -> bool {
    let Some((algorithm, hex)) = digest.split_once(':') else {
        return false;
    };
    serde_json::from_slice::<serde_json::Value>(payload).is_ok_and(|statement| {
        statement["subject"]
            .as_array()
            .is_some_and(|subjects| subjects.iter().any(|s| s["digest"][algorithm] == hex))
    })
}

/// DSSE's pre-authentication encoding, what its signatures sign:
/// `DSSEv1 <len(type)> <type> <len(body)> <body>`.
fn pre_authentication(kind: &str, body: &[u8]) -> Vec<u8> {
    let mut signed = format!("DSSEv1 {} {kind} {} ", kind.len(), body.len()).into_bytes();
    signed.extend_from_slice(body);
    signed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provenance_and_sboms_are_told_by_their_predicate_type() {
        assert_eq!(
            predicate_kind("https://slsa.dev/provenance/v0.2"),
            Some(Kind::Provenance)
        );
        assert_eq!(
            predicate_kind("https://spdx.dev/Document"),
            Some(Kind::Sbom)
        );
    }

    #[test]
    fn dsse_signs_its_pre_authentication_encoding_and_a_statement_names_its_subjects() {
        assert_eq!(
            pre_authentication("application/vnd.in-toto+json", b"{}"),
            b"DSSEv1 28 application/vnd.in-toto+json 2 {}"
        );
        let statement = br#"{"subject":[{"digest":{"sha256":"abc"}}]}"#;
        assert!(statement_names(statement, "sha256:abc"));
        assert!(!statement_names(statement, "sha256:abd"));
    }

    #[test]
    fn a_cosign_key_that_is_not_p256_is_refused() {
        assert!(
            CosignKey::from_pem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
                .is_err()
        );
        assert!("signature".parse::<Kind>().is_ok() && "sig".parse::<Kind>().is_err());
    }
}
