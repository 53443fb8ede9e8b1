//! The build flags people reach for, as buildx spells them (`--cache-from`, `--cache-to`,
//! `--target`, `--no-cache`, `--label`, `--load`, `--sbom`, `--provenance`), and which
//! builder can honour which. A flag the chosen builder cannot honour is refused by name
//! before anything is built, never ignored.

use std::collections::BTreeMap;
use std::str::FromStr;

use crate::buildkit::BuildError;
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

/// An attestation request, as buildx reads `--provenance` and `--sbom`: `true`/`false`,
/// or the attestation's own `key=value` pairs (`mode=max`, `generator=IMAGE`), which go to
/// BuildKit as they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attest {
    /// `false`: none.
    Off,
    /// `true` (empty) or `key=value,...`.
    On(String),
}

impl Attest {
    /// Reads `--provenance`: `true` is `mode=min`, as buildx has it; `mode` is `min` or `max`.
    ///
    /// # Errors
    /// A word that is neither a boolean nor `key=value` pairs, or another mode.
    pub fn provenance(text: &str) -> std::result::Result<Self, String> {
        let attest = Self::parse(text, "mode=min")?;
        if let Self::On(pairs) = &attest {
            for (key, value) in pairs.split(',').filter_map(|p| p.split_once('=')) {
                if key == "mode" && value != "min" && value != "max" {
                    return Err(format!("`mode={value}`: the mode is `min` or `max`"));
                }
            }
        }
        Ok(attest)
    }

    /// Reads `--sbom`: `true`, `false` or `generator=IMAGE` (the scanner BuildKit runs).
    ///
    /// # Errors
    /// A word that is neither a boolean nor `key=value` pairs.
    pub fn sbom(text: &str) -> std::result::Result<Self, String> {
        Self::parse(text, "")
    }

    fn parse(text: &str, when_true: &str) -> std::result::Result<Self, String> {
        match text {
            "true" | "1" => Ok(Self::On(when_true.to_string())),
            "false" | "0" => Ok(Self::Off),
            pairs => {
                for pair in pairs.split(',') {
                    if !pair
                        .split_once('=')
                        .is_some_and(|(k, v)| !k.is_empty() && !v.is_empty())
                    {
                        return Err(format!(
                            "`{pair}`: expected `true`, `false` or KEY=VALUE pairs (`mode=max`)"
                        ));
                    }
                }
                // buildx accepts and drops the attestation's own type.
                let kept: Vec<&str> = pairs
                    .split(',')
                    .filter(|p| !p.starts_with("type="))
                    .collect();
                Ok(Self::On(kept.join(",")))
            }
        }
    }
}

impl std::fmt::Display for Attest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Off => f.write_str("false"),
            Self::On(pairs) if pairs.is_empty() => f.write_str("true"),
            Self::On(pairs) => f.write_str(pairs),
        }
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
    /// `--sbom`; `None`: the builder's default (none).
    pub sbom: Option<Attest>,
    /// `--provenance`; `None`: the builder's default (`mode=min`, as buildx adds it).
    pub provenance: Option<Attest>,
}

impl BuildFlags {
    /// The build arguments that ask a BuildKit daemon for attestations: BuildKit reads
    /// `build-arg:BUILDKIT_ATTEST_<TYPE>` as it reads buildx's `attest:<type>`, and bollard
    /// can send only build arguments. Provenance is on unless turned off, `mode=min` and
    /// for the pushed image only, as buildx asks for it by default.
    pub(crate) fn attestation_args(&self) -> Vec<(String, String)> {
        let mut args = Vec::new();
        match &self.provenance {
            None => args.push((
                "BUILDKIT_ATTEST_PROVENANCE".to_string(),
                "mode=min,inline-only=true".to_string(),
            )),
            Some(Attest::On(pairs)) => {
                args.push(("BUILDKIT_ATTEST_PROVENANCE".to_string(), pairs.clone()));
            }
            Some(Attest::Off) => {}
        }
        if let Some(Attest::On(pairs)) = &self.sbom {
            args.push(("BUILDKIT_ATTEST_SBOM".to_string(), pairs.clone()));
        }
        args
    }
}

/// What a BuildKit can do with build flags here, through bollard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Features {
    /// The engine's own BuildKit (buildx's `docker` driver): it builds into the engine's
    /// store (so `--load` holds), reads a registry cache, exports none, and adds a
    /// provenance attestation but no SBOM of its own accord.
    Engine,
    /// A BuildKit daemon (`docker-container`, `remote`, `kubernetes`, ...): it pushes
    /// itself, reads and writes registry caches, and takes `--provenance` and `--sbom` as
    /// buildx does.
    Daemon,
}

/// Checks that a BuildKit with `features`, of a builder of `driver` (named in the
/// refusal), can honour every flag, before anything is built. Neither kind can send a
/// local cache folder through bollard's session.
///
/// # Errors
/// [`Error::Build(BuildError::Unsupported)`] naming the first flag that cannot be honoured.
pub fn check(features: Features, driver: &str, flags: &BuildFlags) -> Result<()> {
    let refuse = |flag: String, reason: &str, hint: &str| {
        Err(Error::Build(BuildError::Unsupported {
            flag,
            driver: driver.to_string(),
            reason: reason.into(),
            hint: hint.into(),
        }))
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
                "registry" if features == Features::Engine && name == "--cache-to" => {
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
    if flags.load && features != Features::Engine {
        return refuse(
            "--load".into(),
            "this builder pushes what it builds; it cannot hand the image to the engine",
            "build with `--push`, then `multiarch pull IMAGE --platform P`; or use the `docker` builder",
        );
    }
    // The engine's BuildKit, through bollard, adds a provenance attestation of its own
    // accord and takes no other request; a BuildKit daemon takes them all.
    if features == Features::Engine {
        let refused = |flag: String, reason: &str| {
            refuse(
                flag,
                reason,
                "use a docker-container builder (`multiarch builder create --driver docker-container`), which takes --provenance and --sbom as buildx does",
            )
        };
        match &flags.provenance {
            None => {}
            Some(Attest::On(pairs)) if pairs == "mode=min" => {}
            Some(other) => {
                return refused(
                    format!("--provenance={other}"),
                    "the engine's BuildKit adds a `mode=min` provenance attestation of its own accord, and this tool cannot change it",
                );
            }
        }
        if let Some(Attest::On(_)) = &flags.sbom {
            return refused(
                format!("--sbom={}", flags.sbom.as_ref().expect("matched")),
                "this tool cannot ask the engine's BuildKit for an SBOM",
            );
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

    fn on(pairs: &str) -> Attest {
        Attest::On(pairs.into())
    }

    #[rstest]
    #[case("true", Ok(on("mode=min")))]
    #[case("1", Ok(on("mode=min")))]
    #[case("false", Ok(Attest::Off))]
    #[case("mode=max", Ok(on("mode=max")))]
    #[case("type=provenance,mode=max", Ok(on("mode=max")))]
    #[case("mode=all", Err("`min` or `max`"))]
    #[case("maybe", Err("expected `true`"))]
    fn provenance_reads_as_buildx_reads_it(
        #[case] text: &str,
        #[case] expected: std::result::Result<Attest, &str>,
    ) {
        match (Attest::provenance(text), expected) {
            (Ok(got), Ok(want)) => assert_eq!(got, want),
            (Err(got), Err(why)) => assert!(got.contains(why), "{got}"),
            (got, want) => panic!("{text}: {got:?}, wanted {want:?}"),
        }
    }

    #[rstest]
    #[case(BuildFlags::default(), &[("BUILDKIT_ATTEST_PROVENANCE", "mode=min,inline-only=true")])]
    #[case(BuildFlags { provenance: Some(Attest::Off), ..Default::default() }, &[])]
    #[case(BuildFlags { provenance: Some(on("mode=max")), sbom: Some(on("generator=r/s:1")), ..Default::default() }, &[("BUILDKIT_ATTEST_PROVENANCE", "mode=max"), ("BUILDKIT_ATTEST_SBOM", "generator=r/s:1")])]
    fn attestations_travel_as_buildkit_build_args(
        #[case] flags: BuildFlags,
        #[case] expected: &[(&str, &str)],
    ) {
        let got = flags.attestation_args();
        let got: Vec<(&str, &str)> = got.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(got, expected);
    }

    fn cache(text: &str) -> Vec<CacheSpec> {
        vec![text.parse().unwrap()]
    }

    #[rstest]
    #[case::registry_cache_both_ways(Features::Daemon, BuildFlags { cache_from: cache("r/c:1"), cache_to: cache("type=registry,ref=r/c:1,mode=max"), ..Default::default() }, None)]
    #[case::engine_reads_a_registry_cache(Features::Engine, BuildFlags { cache_from: cache("r/c:1"), ..Default::default() }, None)]
    #[case::engine_exports_none(Features::Engine, BuildFlags { cache_to: cache("r/c:1"), ..Default::default() }, Some("--cache-to"))]
    #[case::no_local_folders(Features::Daemon, BuildFlags { cache_to: cache("type=local,dest=d"), ..Default::default() }, Some("--cache-to type=local"))]
    #[case::load_into_the_engine(Features::Engine, BuildFlags { load: true, ..Default::default() }, None)]
    #[case::container_cannot_load(Features::Daemon, BuildFlags { load: true, ..Default::default() }, Some("--load"))]
    #[case::engine_provenance_is_on(Features::Engine, BuildFlags { provenance: Some(on("mode=min")), sbom: Some(Attest::Off), ..Default::default() }, None)]
    #[case::engine_provenance_cannot_go(Features::Engine, BuildFlags { provenance: Some(Attest::Off), ..Default::default() }, Some("--provenance=false"))]
    #[case::engine_takes_no_max(Features::Engine, BuildFlags { provenance: Some(on("mode=max")), ..Default::default() }, Some("--provenance=mode=max"))]
    #[case::engine_makes_no_sbom(Features::Engine, BuildFlags { sbom: Some(on("")), ..Default::default() }, Some("--sbom=true"))]
    #[case::container_takes_every_request(Features::Daemon, BuildFlags { provenance: Some(on("mode=max")), sbom: Some(on("generator=r/scanner:1")), ..Default::default() }, None)]
    #[case::container_can_add_none(Features::Daemon, BuildFlags { provenance: Some(Attest::Off), sbom: Some(Attest::Off), ..Default::default() }, None)]
    fn each_flag_is_honoured_or_refused_by_name(
        #[case] features: Features,
        #[case] flags: BuildFlags,
        #[case] refused: Option<&str>,
    ) {
        match (check(features, "any", &flags), refused) {
            (Ok(()), None) => {}
            (Err(Error::Build(BuildError::Unsupported { flag, .. })), Some(name)) => {
                assert!(flag.starts_with(name), "{flag}");
            }
            (other, _) => panic!("{other:?} for {flags:?} on {features:?}"),
        }
    }
}
