//! Why a release's digests are not one release: the merge's own failures, each naming the
//! digest and what it is. The crate's `Error` (`error.rs`) wraps them whole.

use multiarch_platform::Platform;

/// Why a set of digests is not one release.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// The folder or file of digests cannot be read.
    #[error("cannot read the digests in `{path}`")]
    Unreadable {
        /// The folder or file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A name or line that is no digest.
    #[error("`{text}` in `{path}` is not a digest (sha256: and 64 hexadecimal digits)")]
    NotADigest {
        /// The folder or file.
        path: String,
        /// What it holds.
        text: String,
    },
    /// No digest at all.
    #[error("`{path}` holds no digest: did the platform jobs upload theirs?")]
    Empty {
        /// The folder or file.
        path: String,
    },
    /// A digest the release's repository does not hold.
    #[error(
        "{digest} is not in `{repository}`: a digest of another image (a sibling repository's, matched by the same glob?)"
    )]
    NotInRepository {
        /// The digest.
        digest: String,
        /// The release's repository.
        repository: String,
    },
    /// An index of several platforms where one platform's image was expected.
    #[error(
        "{digest} in `{repository}` is an index of {count} platforms ({platforms}), not one platform's image"
    )]
    SeveralPlatforms {
        /// The digest.
        digest: String,
        /// The repository.
        repository: String,
        /// How many.
        count: usize,
        /// Which.
        platforms: String,
    },
    /// Two digests of one platform.
    #[error("{first} and {second} are both {platform}: one digest per platform")]
    Twice {
        /// The platform.
        platform: Platform,
        /// The digest named first.
        first: String,
        /// The other.
        second: String,
    },
    /// A platform `--expect` does not name.
    #[error("{digest} is {platform}, which `--expect` does not name")]
    Unexpected {
        /// Its platform.
        platform: Platform,
        /// The digest.
        digest: String,
    },
    /// A platform `--expect` names and no digest is.
    #[error("no digest is {platform}, which `--expect` names (the digests are: {found})")]
    Missing {
        /// The platform.
        platform: Platform,
        /// The platforms the digests are.
        found: String,
    },
}
