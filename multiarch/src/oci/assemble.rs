//! Assembling an index from single-platform images already pushed, the way the Go proxy
//! and Drone demos do with `docker manifest create` and per-architecture tags such as
//! `:linux-arm64`, without the experimental Docker CLI.

use oci_spec::image::{
    Arch, Descriptor, DescriptorBuilder, Digest, ImageIndexBuilder, MediaType, Os, PlatformBuilder,
};

use multiarch_platform::Platform;

use crate::oci::index::REFERENCE_TYPE;

/// One image to list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Its platform, from its config.
    pub platform: Platform,
    /// Its manifest digest.
    pub digest: String,
    /// Its manifest size in bytes.
    pub size: u64,
    /// Its manifest media type.
    pub media_type: String,
}

/// Why members cannot form an index.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssembleError {
    /// Nothing to list.
    #[error("an index needs at least one image")]
    Empty,
    /// Two images for one platform: the engine could pick either.
    #[error("`{first}` and `{second}` are both {platform}; an index holds one image per platform")]
    SamePlatform {
        /// The platform.
        platform: Platform,
        /// The first source.
        first: String,
        /// The second source.
        second: String,
    },
    /// A member whose digest or media type cannot stand in an index.
    #[error("a member cannot be listed: {0}")]
    BadMember(String),
}

/// Builds the index bytes and their media type. The index is an OCI index unless every
/// member is a Docker schema 2 manifest, in which case it is a Docker manifest list
/// (older engines and registries read only that).
///
/// # Errors
/// [`AssembleError`] for no member or two members of one platform; `names` gives each
/// member's source for the message.
pub(crate) fn assemble(
    members: &[Member],
    names: &[String],
) -> Result<(Vec<u8>, String), AssembleError> {
    if members.is_empty() {
        return Err(AssembleError::Empty);
    }
    for (i, member) in members.iter().enumerate() {
        if let Some(j) = members[..i]
            .iter()
            .position(|m| m.platform == member.platform)
        {
            return Err(AssembleError::SamePlatform {
                platform: member.platform.clone(),
                first: names.get(j).cloned().unwrap_or_default(),
                second: names.get(i).cloned().unwrap_or_default(),
            });
        }
    }
    let manifests = members
        .iter()
        .map(|m| {
            let mut platform = PlatformBuilder::default()
                .architecture(Arch::from(m.platform.architecture()))
                .os(Os::from(m.platform.os()));
            if let Some(variant) = m.platform.variant() {
                platform = platform.variant(variant);
            }
            DescriptorBuilder::default()
                .media_type(MediaType::from(m.media_type.as_str()))
                .digest(
                    m.digest
                        .parse::<Digest>()
                        .map_err(|e| AssembleError::BadMember(e.to_string()))?,
                )
                .size(m.size)
                .platform(
                    platform
                        .build()
                        .map_err(|e| AssembleError::BadMember(e.to_string()))?,
                )
                .build()
                .map_err(|e| AssembleError::BadMember(e.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    index_of(manifests)
}

/// Builds an index from descriptors as they are (platforms and annotations kept, so an
/// attestation manifest stays tied to its image); an OCI index unless every entry is a
/// Docker schema 2 manifest.
///
/// # Errors
/// [`AssembleError`] for no image, or two images of one platform.
pub(crate) fn index_of(descriptors: Vec<Descriptor>) -> Result<(Vec<u8>, String), AssembleError> {
    let images: Vec<&Descriptor> = descriptors
        .iter()
        .filter(|d| {
            d.annotations()
                .as_ref()
                .is_none_or(|a| !a.contains_key(REFERENCE_TYPE))
        })
        .collect();
    if images.is_empty() {
        return Err(AssembleError::Empty);
    }
    for (i, image) in images.iter().enumerate() {
        if images[..i]
            .iter()
            .any(|other| other.platform() == image.platform())
        {
            let platform = image
                .platform()
                .as_ref()
                .map(|p| format!("{}/{}", p.os(), p.architecture()))
                .unwrap_or_default();
            return Err(AssembleError::BadMember(format!(
                "two images for {platform}: {} and {}",
                images[..i]
                    .iter()
                    .find(|o| o.platform() == image.platform())
                    .map(|o| o.digest().to_string())
                    .unwrap_or_default(),
                image.digest()
            )));
        }
    }
    let docker = descriptors.iter().all(|d| {
        d.media_type() == &MediaType::from("application/vnd.docker.distribution.manifest.v2+json")
    });
    let media_type = if docker {
        "application/vnd.docker.distribution.manifest.list.v2+json"
    } else {
        "application/vnd.oci.image.index.v1+json"
    };
    let index = ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::from(media_type))
        .manifests(descriptors)
        .build()
        .map_err(|e| AssembleError::BadMember(e.to_string()))?;
    let bytes = serde_json::to_vec_pretty(&index).expect("an index serialises");
    Ok((bytes, media_type.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::index::{Manifest, entries, platforms};

    fn member(platform: &str, media_type: &str) -> Member {
        Member {
            platform: platform.parse().unwrap(),
            digest: format!("sha256:{}", "ab".repeat(32)),
            size: 500,
            media_type: media_type.into(),
        }
    }

    const OCI: &str = "application/vnd.oci.image.manifest.v1+json";
    const DOCKER: &str = "application/vnd.docker.distribution.manifest.v2+json";

    #[test]
    fn an_oci_index_reads_back_with_its_platforms() {
        let (bytes, media_type) = assemble(
            &[member("linux/amd64", OCI), member("linux/arm/v7", OCI)],
            &["a".into(), "b".into()],
        )
        .unwrap();
        assert_eq!(media_type, "application/vnd.oci.image.index.v1+json");
        let Manifest::Index(index) = Manifest::parse(&bytes).unwrap() else {
            panic!("an index")
        };
        let names: Vec<String> = platforms(&entries(&index))
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(names, ["linux/amd64", "linux/arm/v7"]);
    }

    #[test]
    fn docker_manifests_make_a_docker_manifest_list() {
        let (_, media_type) = assemble(&[member("linux/amd64", DOCKER)], &["a".into()]).unwrap();
        assert_eq!(
            media_type,
            "application/vnd.docker.distribution.manifest.list.v2+json"
        );
    }

    #[test]
    fn two_images_of_one_platform_are_refused() {
        let err = assemble(
            &[member("linux/arm64", OCI), member("linux/arm64/v8", OCI)],
            &["x:linux-arm64".into(), "y:arm64v8".into()],
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "`x:linux-arm64` and `y:arm64v8` are both linux/arm64; an index holds one image per platform"
        );
        assert_eq!(assemble(&[], &[]).unwrap_err(), AssembleError::Empty);
    }
}
