//! The build flags people reach for, as buildx spells them (`--cache-from`, `--cache-to`,
//! `--target`, `--no-cache`, `--label`, `--load`, `--sbom`, `--provenance`), and which
//! builder can honour which. A flag the chosen builder cannot honour is refused by name
//! before anything is built, never ignored.

use std::collections::BTreeMap;
use std::str::FromStr;

use crate::buildkit::builder::Driver;
use crate::error::{Error, Result};

/// A `--cache-from` / `--cache-to` value: `type=registry,ref=HOST/REPO:TAG,mode=max`.
/// A value without `=` is a registry reference, as buildx reads `--cache-from IMAGE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheSpec {
    /// `registry`, `local`, `inline`, ...
    pub kind: String,
    /// The other `key=value` pairs (`ref`, `mode`, `dest`, `src`).
    pub attrs: BTreeMap<String, String>,
}

impl FromStr for CacheSpec {
    type Err = String;

    fn from_str(text: &str) -> std::result::Result<Self, String> {
        if !text.contains('=') {
            return Ok(Self {
                kind: "registry".into(),
                attrs: BTreeMap::from([("ref".into(), text.into())]),
            });
        }
        let mut kind = None;
        let mut attrs = BTreeMap::new();
        for pair in text.split(',') {
            let (key, value) = pair
                .split_once('=')
                .filter(|(k, v)| !k.is_empty() && !v.is_empty())
                .ok_or_else(|| format!("`{pair}` is not KEY=VALUE"))?;
            if key == "type" {
                kind = Some(value.to_string());
            } else {
                attrs.insert(key.to_string(), value.to_string());
            }
        }
        let kind = kind.ok_or("missing `type=` (registry, local, inline)")?;
        if kind == "registry" && !attrs.contains_key("ref") {
            return Err("a registry cache needs `ref=HOST/REPOSITORY:TAG`".into());
        }
        if let Some(mode) = attrs.get("mode") {
            if mode != "min" && mode != "max" {
                return Err(format!("`mode={mode}`: the mode is `min` or `max`"));
            }
        }
        Ok(Self { kind, attrs })
    }
}

impl std::fmt::Display for CacheSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "type={}", self.kind)?;
        for (key, value) in &self.attrs {
            write!(f, ",{key}={value}")?;
        }
        Ok(())
    }
}

/// The flags of one build that depend on what the builder can do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildFlags {
    /// `--cache-from`.
    pub cache_from: Vec<CacheSpec>,
    /// `--cache-to`.
    pub cache_to: Vec<CacheSpec>,
    /// `--load`: the image into the engine's image store.
    pub load: bool,
    /// `--sbom true|false`; `None`: the builder's default.
    pub sbom: Option<bool>,
    /// `--provenance true|false`; `None`: the builder's default.
    pub provenance: Option<bool>,
}

/// Checks that `driver` can honour every flag, before anything is built.
///
/// What each can do here, through bollard: the engine's BuildKit (`docker`) builds into
/// the engine's store (so `--load` holds), reads a registry cache, exports none, and adds
/// a provenance attestation but no SBOM of its own accord; a BuildKit container
/// (`docker-container`) pushes itself, reads and writes registry caches, and adds no
/// attestation. Neither can send a local cache folder through bollard's session, nor
/// ask BuildKit for attestations it does not add by default.
///
/// # Errors
/// [`Error::Unsupported`] naming the first flag that cannot be honoured.
pub fn check(driver: Driver, flags: &BuildFlags) -> Result<()> {
    let refuse = |flag: String, reason: &str, hint: &str| {
        Err(Error::Unsupported {
            flag,
            driver: driver.to_string(),
            reason: reason.into(),
            hint: hint.into(),
        })
    };
    let container_hint =
        "use a docker-container builder: `multiarch builder create --driver docker-container`";
    for (name, specs) in [
        ("--cache-from", &flags.cache_from),
        ("--cache-to", &flags.cache_to),
    ] {
        for spec in specs {
            let flag = format!("{name} {spec}");
            match spec.kind.as_str() {
                "local" => {
                    return refuse(
                        flag,
                        "a local cache folder cannot travel through this tool's BuildKit session",
                        "use a registry cache: `type=registry,ref=HOST/REPOSITORY:cache,mode=max`",
                    );
                }
                "registry" if driver == Driver::Docker && name == "--cache-to" => {
                    return refuse(
                        flag,
                        "the engine's BuildKit exports no cache",
                        container_hint,
                    );
                }
                "registry" => {}
                _ => {
                    return refuse(
                        flag,
                        "only `type=registry` caches are supported",
                        "use `type=registry,ref=HOST/REPOSITORY:cache`",
                    );
                }
            }
        }
    }
    if flags.load && driver == Driver::DockerContainer {
        return refuse(
            "--load".into(),
            "this builder pushes what it builds; it cannot hand the image to the engine",
            "build with `--push`, then `multiarch pull IMAGE --platform P`; or use the `docker` builder",
        );
    }
    // The engine's BuildKit adds a provenance attestation by default; nothing else is.
    let attestation_default = |what: &str| matches!((what, driver), ("provenance", Driver::Docker));
    for (what, wanted) in [("sbom", flags.sbom), ("provenance", flags.provenance)] {
        if let Some(wanted) = wanted {
            if wanted != attestation_default(what) {
                return refuse(
                    format!("--{what}={wanted}"),
                    if wanted {
                        "this builder adds no such attestation, and this tool cannot ask BuildKit for one"
                    } else {
                        "the engine's BuildKit adds this attestation of its own accord"
                    },
                    "build with `docker buildx build`, which asks BuildKit for attestations",
                );
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case(
        "type=registry,ref=localhost:5000/app:cache,mode=max",
        "registry",
        Some("max")
    )]
    #[case("localhost:5000/app:cache", "registry", None)]
    #[case("type=local,dest=/tmp/cache", "local", None)]
    fn cache_specs_parse_as_buildx_reads_them(
        #[case] text: &str,
        #[case] kind: &str,
        #[case] mode: Option<&str>,
    ) {
        let spec: CacheSpec = text.parse().unwrap();
        assert_eq!(spec.kind, kind);
        assert_eq!(spec.attrs.get("mode").map(String::as_str), mode);
    }

    #[rstest]
    #[case("type=registry", "needs `ref=")]
    #[case("ref=x", "missing `type=`")]
    #[case("type=registry,ref=x,mode=all", "`min` or `max`")]
    #[case("type=registry,,ref=x", "is not KEY=VALUE")]
    fn bad_cache_specs_say_why(#[case] text: &str, #[case] why: &str) {
        let error = text.parse::<CacheSpec>().unwrap_err();
        assert!(error.contains(why), "{error}");
    }

    fn cache(text: &str) -> Vec<CacheSpec> {
        vec![text.parse().unwrap()]
    }

    #[rstest]
    #[case::registry_cache_both_ways(Driver::DockerContainer, BuildFlags { cache_from: cache("r/c:1"), cache_to: cache("type=registry,ref=r/c:1,mode=max"), ..Default::default() }, None)]
    #[case::engine_reads_a_registry_cache(Driver::Docker, BuildFlags { cache_from: cache("r/c:1"), ..Default::default() }, None)]
    #[case::engine_exports_none(Driver::Docker, BuildFlags { cache_to: cache("r/c:1"), ..Default::default() }, Some("--cache-to"))]
    #[case::no_local_folders(Driver::DockerContainer, BuildFlags { cache_to: cache("type=local,dest=d"), ..Default::default() }, Some("--cache-to type=local"))]
    #[case::load_into_the_engine(Driver::Docker, BuildFlags { load: true, ..Default::default() }, None)]
    #[case::container_cannot_load(Driver::DockerContainer, BuildFlags { load: true, ..Default::default() }, Some("--load"))]
    #[case::engine_provenance_is_on(Driver::Docker, BuildFlags { provenance: Some(true), sbom: Some(false), ..Default::default() }, None)]
    #[case::engine_provenance_cannot_go(Driver::Docker, BuildFlags { provenance: Some(false), ..Default::default() }, Some("--provenance=false"))]
    #[case::no_sbom_anywhere(Driver::DockerContainer, BuildFlags { sbom: Some(true), ..Default::default() }, Some("--sbom=true"))]
    #[case::container_adds_none(Driver::DockerContainer, BuildFlags { provenance: Some(false), sbom: Some(false), ..Default::default() }, None)]
    fn each_flag_is_honoured_or_refused_by_name(
        #[case] driver: Driver,
        #[case] flags: BuildFlags,
        #[case] refused: Option<&str>,
    ) {
        match (check(driver, &flags), refused) {
            (Ok(()), None) => {}
            (Err(Error::Unsupported { flag, .. }), Some(name)) => {
                assert!(flag.starts_with(name), "{flag}");
            }
            (other, _) => panic!("{other:?} for {flags:?} on {driver}"),
        }
    }
}
