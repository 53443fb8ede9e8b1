//! Image references, parsed the way Docker reads them, without a regular expression.
//!
//! `oci-spec`'s parser compiles the distribution grammar as one large regex on first
//! use, which took about 30 ms: half of an `inspect` of a local registry. The grammar
//! is small enough to walk by hand, and the result is the same `Reference` type.
//!
//! `alpine` is `docker.io/library/alpine:latest`; `localhost:5000/app` keeps its
//! registry; a first component with a `.` or a `:`, or `localhost`, is a registry.

use oci_client::Reference;

/// Why a reference was refused; the message completes "is not a valid image reference: ".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    /// Nothing was given.
    #[error("it is empty")]
    Empty,
    /// Longer than the 255 characters Docker allows for a name.
    #[error("the repository name is longer than 255 characters")]
    TooLong,
    /// 64 hexadecimal digits: an image ID, which Docker refuses as a repository name.
    #[error(
        "`{0}` is 64 hexadecimal digits, an image ID, which Docker refuses as a repository name: name the image by repository (`docker.io/library/NAME` if that is what you mean)"
    )]
    ImageId(String),
    /// A registry host or port that is not valid.
    #[error("`{0}` is not a valid registry host[:port]")]
    BadRegistry(String),
    /// Capitals, or characters a repository path cannot hold.
    #[error(
        "`{0}` is not a valid repository path component (lowercase letters, digits, and single `.`, `_`, `__` or `-` between them)"
    )]
    BadComponent(String),
    /// A tag with characters or a length Docker refuses.
    #[error(
        "`{0}` is not a valid tag (letters, digits, `_`, `.`, `-`; at most 128; not starting with `.` or `-`)"
    )]
    BadTag(String),
    /// A digest that is not `sha256:` and 64 hexadecimal digits (Docker takes no other).
    #[error("`{0}` is not a valid digest (sha256: and 64 hexadecimal digits)")]
    BadDigest(String),
}

/// Parses `[registry/]repository[:tag][@digest]`.
///
/// # Errors
/// [`ReferenceError`] naming the part at fault.
pub fn parse(text: &str) -> Result<Reference, ReferenceError> {
    if text.is_empty() {
        return Err(ReferenceError::Empty);
    }
    // As Docker's ParseNormalizedNamed: an image ID is no name.
    if text.len() == 64
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(ReferenceError::ImageId(text.to_string()));
    }
    let (name_and_tag, digest) = match text.split_once('@') {
        Some((rest, digest)) => (rest, Some(check_digest(digest)?)),
        None => (text, None),
    };
    // A tag follows the last `:` that comes after the last `/` (a registry port does not).
    let last_slash = name_and_tag.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match name_and_tag[last_slash..].rfind(':') {
        Some(i) => {
            let at = last_slash + i;
            (
                &name_and_tag[..at],
                Some(check_tag(&name_and_tag[at + 1..])?),
            )
        }
        None => (name_and_tag, None),
    };
    let (registry, path) = match name.split_once('/') {
        Some((first, rest))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            (check_registry(first)?, rest.to_string())
        }
        _ => ("docker.io".to_string(), name.to_string()),
    };
    let registry = if registry == "index.docker.io" {
        "docker.io".to_string()
    } else {
        registry
    };
    let repository = if registry == "docker.io" && !path.contains('/') {
        format!("library/{path}")
    } else {
        path
    };
    // Docker counts the repository's path, `library/` included, not the registry
    // (distribution/reference `Parse`: RepositoryNameTotalLengthMax on the path).
    if repository.len() > 255 {
        return Err(ReferenceError::TooLong);
    }
    for component in repository.split('/') {
        check_component(component)?;
    }
    Ok(match (tag, digest) {
        (Some(tag), Some(digest)) => Reference::with_tag_and_digest(
            registry,
            repository,
            tag.to_string(),
            digest.to_string(),
        ),
        (None, Some(digest)) => Reference::with_digest(registry, repository, digest.to_string()),
        (tag, None) => {
            Reference::with_tag(registry, repository, tag.unwrap_or("latest").to_string())
        }
    })
}

fn check_registry(host: &str) -> Result<String, ReferenceError> {
    let bad = || ReferenceError::BadRegistry(host.to_string());
    let (name, port) = if let Some(rest) = host.strip_prefix('[') {
        // An IPv6 address: [::1]:5000
        let (address, after) = rest.split_once(']').ok_or_else(bad)?;
        // Docker's grammar takes hexadecimal groups only: no zone, no embedded IPv4.
        if address.parse::<std::net::Ipv6Addr>().is_err() || address.contains('.') {
            return Err(bad());
        }
        // Nothing may follow the bracket but `:PORT` (`[::1]5000` is no host).
        match after {
            "" => (None, None),
            _ => (None, Some(after.strip_prefix(':').ok_or_else(bad)?)),
        }
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) => (Some(name), Some(port)),
            None => (Some(host), None),
        }
    };
    if let Some(port) = port {
        if port.is_empty() || port.len() > 5 || !port.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
    }
    if let Some(name) = name {
        let labels_ok = !name.is_empty()
            && name.split('.').all(|label| {
                !label.is_empty()
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    && !label.starts_with('-')
                    && !label.ends_with('-')
            });
        if !labels_ok {
            return Err(bad());
        }
    }
    Ok(host.to_string())
}

fn check_component(component: &str) -> Result<(), ReferenceError> {
    let bad = || ReferenceError::BadComponent(component.to_string());
    let bytes = component.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return Err(bad());
    }
    // Separators between alphanumeric runs: `.`, `_`, `__`, or any number of `-`.
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let separator = &component[start..i];
        let valid = matches!(separator, "." | "_" | "__") || separator.bytes().all(|b| b == b'-');
        if !valid {
            return Err(bad());
        }
    }
    Ok(())
}

fn check_tag(tag: &str) -> Result<&str, ReferenceError> {
    let bytes = tag.as_bytes();
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let valid = !bytes.is_empty()
        && bytes.len() <= 128
        && word(bytes[0])
        && bytes.iter().all(|&b| word(b) || b == b'.' || b == b'-');
    if valid {
        Ok(tag)
    } else {
        Err(ReferenceError::BadTag(tag.to_string()))
    }
}

fn check_digest(digest: &str) -> Result<&str, ReferenceError> {
    let bad = || ReferenceError::BadDigest(digest.to_string());
    let (algorithm, hex) = digest.split_once(':').ok_or_else(bad)?;
    // Docker refuses sha512 references (distribution/reference: ErrDigestUnsupported).
    let length = match algorithm {
        "sha256" => 64,
        _ => return Err(bad()),
    };
    let lower_hex = |b: u8| b.is_ascii_digit() || (b'a'..=b'f').contains(&b);
    if hex.len() == length && hex.bytes().all(lower_hex) {
        Ok(digest)
    } else {
        Err(bad())
    }
}

/// Whether a registry is on this machine, and so spoken to over plain HTTP.
pub fn is_local(registry: &str) -> bool {
    let host = match registry.rsplit_once(':') {
        Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host,
        _ => registry,
    };
    matches!(host, "localhost" | "[::1]" | "::1") || host.starts_with("127.")
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    /// The same answers as `oci-spec`'s regex parser, which stays the reference here.
    #[rstest]
    #[case("alpine")]
    #[case("alpine:3.20")]
    #[case("library/alpine")]
    #[case("docker.io/library/alpine:latest")]
    #[case("index.docker.io/library/alpine")]
    #[case("localhost:5000/arch-server:latest")]
    #[case("localhost/arch-server")]
    #[case("127.0.0.1:5000/a/b/c:v1.2.3-rc_1")]
    #[case("ghcr.io/org/app")]
    #[case("registry.example.com:443/team/app__x.y-z:TAG")]
    #[case("my-registry.local:5000/a---b")]
    fn agrees_with_oci_spec(#[case] text: &str) {
        let ours = parse(text).unwrap();
        let theirs: Reference = text.parse().unwrap();
        assert_eq!(ours.whole(), theirs.whole());
        assert_eq!(ours.registry(), theirs.registry());
        assert_eq!(ours.repository(), theirs.repository());
        assert_eq!(ours.tag(), theirs.tag());
        assert_eq!(ours.digest(), theirs.digest());
    }

    #[test]
    fn ipv6_registries_are_accepted_as_docker_does() {
        // oci-spec's grammar predates bracketed IPv6 hosts.
        let reference = parse("[::1]:5000/app:1").unwrap();
        assert_eq!(reference.registry(), "[::1]:5000");
        assert_eq!(reference.repository(), "app");
    }

    #[test]
    fn digests_with_and_without_tags() {
        let by_digest = parse(&format!("localhost:5000/app@{D}")).unwrap();
        assert_eq!(by_digest.digest(), Some(D));
        assert_eq!(by_digest.tag(), None);
        let both = parse(&format!("localhost:5000/app:1@{D}")).unwrap();
        assert_eq!(both.tag(), Some("1"));
        assert_eq!(both.digest(), Some(D));
    }

    #[rstest]
    #[case("", "it is empty")]
    #[case("Alpine", "`Alpine` is not a valid repository path component")]
    #[case("localhost:5000/App", "`App` is not a valid repository path component")]
    #[case("a//b", "`` is not a valid repository path component")]
    #[case("a/-b", "`-b` is not a valid repository path component")]
    #[case("a/b..c", "`b..c` is not a valid repository path component")]
    #[case("app:", "`` is not a valid tag")]
    #[case("app:.x", "`.x` is not a valid tag")]
    #[case("app:bad tag", "`bad tag` is not a valid tag")]
    #[case("app@sha256:short", "`sha256:short` is not a valid digest")]
    #[case("app@md5:0123", "`md5:0123` is not a valid digest")]
    #[case(
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "`0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef` is 64 hexadecimal digits, an image ID"
    )]
    #[case(
        "localhost:99x/app",
        "`localhost:99x` is not a valid registry host[:port]"
    )]
    #[case(
        "bad_host.com/app",
        "`bad_host.com` is not a valid registry host[:port]"
    )]
    #[case("[zz]:5000/app", "`[zz]:5000` is not a valid registry host[:port]")]
    fn refuses_with_a_reason(#[case] text: &str, #[case] prefix: &str) {
        let message = parse(text).unwrap_err().to_string();
        assert!(message.starts_with(prefix), "{text}: {message}");
    }

    /// Found by `cargo fuzz run reference` (issue #6): a name that fits must still parse
    /// once printed as `docker.io/library/...`. Docker counts the path (`library/`
    /// included), not the registry (distribution/reference `Parse`).
    #[test]
    fn the_length_limit_counts_the_normalised_path() {
        let fits = "d".repeat(255 - "library/".len());
        let reference = parse(&fits).unwrap();
        assert_eq!(
            parse(&reference.whole()).unwrap().whole(),
            reference.whole()
        );
        assert_eq!(
            parse(&"d".repeat(255 - "library/".len() + 1)).unwrap_err(),
            ReferenceError::TooLong
        );
        // distribution/reference reference_test.go: 255 characters after a registry.
        assert!(parse(&format!("example.com/{}:tag", "a".repeat(255))).is_ok());
        assert_eq!(
            parse(&format!("domain/{}:tag", "a".repeat(256))).unwrap_err(),
            ReferenceError::TooLong
        );
    }

    /// distribution/reference `normalize_test.go` (TestValidateReferenceName, valid):
    /// names Docker takes, and so do we, with the name Docker makes of them.
    #[rstest]
    #[case::docker_docker("docker/docker", "docker.io/docker/docker:latest")]
    #[case::library_debian("library/debian", "docker.io/library/debian:latest")]
    #[case::debian("debian", "docker.io/library/debian:latest")]
    #[case::localhost_library("localhost/library/debian", "localhost/library/debian:latest")]
    #[case::localhost("localhost/debian", "localhost/debian:latest")]
    #[case::docker_io("docker.io/debian", "docker.io/library/debian:latest")]
    #[case::index_docker_io("index.docker.io/debian", "docker.io/library/debian:latest")]
    #[case::index_docker_io_user("index.docker.io/docker/docker", "docker.io/docker/docker:latest")]
    #[case::loopback_port(
        "127.0.0.1:5000/library/debian",
        "127.0.0.1:5000/library/debian:latest"
    )]
    #[case::an_ipv4_name("192.168.0.1", "docker.io/library/192.168.0.1:latest")]
    #[case::an_ipv4_name_and_tag("192.168.0.1:80", "docker.io/library/192.168.0.1:80")]
    #[case::ipv4_registry("192.168.0.1:8/debian", "192.168.0.1:8/debian:latest")]
    #[case::long_name(
        "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev",
        "docker.io/library/thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev:latest"
    )]
    #[case::ipv6_port("[fc00::1]:5000/docker", "[fc00::1]:5000/docker:latest")]
    #[case::ipv6_full(
        "[fc00:1:2:3:4:5:6:7]:5000/library/debian",
        "[fc00:1:2:3:4:5:6:7]:5000/library/debian:latest"
    )]
    #[case::hex_with_registry(
        "docker.io/1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a",
        "docker.io/library/1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a:latest"
    )]
    // reference_test.go (TestReferenceParse), valid.
    #[case::tag_upper("lowercase:Uppercase", "docker.io/library/lowercase:Uppercase")]
    #[case::port_as_tag("test.com:5000", "docker.io/library/test.com:5000")]
    #[case::registry_port_repo("test:5000/repo:tag", "test:5000/repo:tag")]
    #[case::subdomains(
        "sub-dom1.foo.com/bar/baz/quux:some-long-tag",
        "sub-dom1.foo.com/bar/baz/quux:some-long-tag"
    )]
    #[case::dotted_tag(
        "b.gcr.io/test.example.com/my-app:test.example.com",
        "b.gcr.io/test.example.com/my-app:test.example.com"
    )]
    #[case::punycode("xn--n3h.com/myimage:xn--n3h.com", "xn--n3h.com/myimage:xn--n3h.com")]
    #[case::underscore_name("foo_bar.com:8080", "docker.io/library/foo_bar.com:8080")]
    #[case::ipv6_no_port("[2001:db8::1]/repo", "[2001:db8::1]/repo:latest")]
    #[case::ipv6_short("[2001:db8::]:5000/repo", "[2001:db8::]:5000/repo:latest")]
    fn takes_what_docker_takes(#[case] text: &str, #[case] whole: &str) {
        assert_eq!(parse(text).unwrap().whole(), whole, "{text}");
    }

    /// distribution/reference `normalize_test.go` (invalid) and `reference_test.go`
    /// (errors): what Docker refuses, we refuse.
    #[rstest]
    #[case::a_url("https://github.com/docker/docker")]
    #[case::upper_path("docker/Docker")]
    #[case::leading_dash("-docker")]
    #[case::leading_dash_user("-docker/docker")]
    #[case::leading_dash_registry("-docker.io/docker/docker")]
    #[case::empty_components("docker///docker")]
    #[case::upper_after_registry("docker.io/docker/Docker")]
    #[case::ipv6_alone("[fc00::1]")]
    #[case::ipv6_port_alone("[fc00::1]:5000")]
    #[case::unbracketed_ipv6("fc00::1:5000/debian")]
    #[case::ipv6_zone("[fe80::1%eth0]:5000/debian")]
    #[case::ipv6_embedded_ipv4("[2001:db8:3:4::192.0.2.33]:5000/debian")]
    #[case::image_id("1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a")]
    #[case::just_tag(":justtag")]
    #[case::just_digest("@sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff")]
    #[case::short_digest("repo@sha256:ffffffffffffffffffffffffffffffffff")]
    #[case::unknown_algorithm(
        "validname@invaliddigest:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
    )]
    #[case::sha512(
        "validname@sha512:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
    )]
    #[case::upper_name("Uppercase:tag")]
    #[case::upper_with_registry("test:5000/Uppercase/lowercase:tag")]
    #[case::bad_characters("aa/asdf$$^/aa")]
    // Found reading the grammar against ours (issue #22): digits after the bracket.
    #[case::ipv6_digits_without_colon("[2001:db8::1]5000/repo")]
    fn refuses_what_docker_refuses(#[case] text: &str) {
        assert!(parse(text).is_err(), "{text} was taken");
    }

    /// Where Docker takes what we refuse, on purpose (the README lists them): Docker reads
    /// a first component with capitals as a registry (`LOCALDOMAIN/debian`); registries
    /// are lower case here, so a capital in the name is always an error, never a host.
    #[rstest]
    #[case::upper_registry("LOCALDOMAIN/library/debian")]
    #[case::upper_user("Docker/docker")]
    fn refuses_on_purpose_what_docker_takes(#[case] text: &str) {
        assert!(parse(text).is_err(), "{text}");
    }

    #[test]
    fn long_names_are_refused() {
        let long = format!("localhost:5000/{}", "a".repeat(300));
        assert_eq!(parse(&long).unwrap_err(), ReferenceError::TooLong);
        assert!(parse(&format!("app:{}", "t".repeat(129))).is_err());
    }
}
