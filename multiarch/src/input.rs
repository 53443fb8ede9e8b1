//! What a person asked for, read as the crate's [`Error`](crate::error::Error) names it:
//! an image reference parsed as Docker parses it (the text given kept in the error), and
//! the platforms asked of an index checked against what it lists.

use oci_client::Reference;

use crate::oci::index::Entry;

use crate::error::{Error, Result};

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

/// Checks that each of `wanted` is among the platforms `listed` for `reference`.
///
/// # Errors
/// [`Error::PlatformMissing`] naming the first one missing and what there is.
pub(crate) fn require_platforms(
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

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

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
}
