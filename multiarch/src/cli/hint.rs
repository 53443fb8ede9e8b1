//! The `hint:` line under an error: what to do about it, in the command line's words
//! (its flags, its commands, the test bed's scripts). The library only says what happened.

use multiarch::buildkit::BuildError;
use multiarch::engine::EngineError;
use multiarch::engine::ssh::{SshDestination, SshProblem};
use multiarch::error::Error;
use multiarch::oci::edit::EditError;
use multiarch::registry::RegistryError;

/// The fix to suggest for one error of a chain: the crate's, or a layer's own when a
/// command returned it straight from that layer.
pub fn for_cause(cause: &(dyn std::error::Error + 'static)) -> Option<String> {
    if let Some(error) = cause.downcast_ref::<Error>() {
        return for_error(error);
    }
    if let Some(error) = cause.downcast_ref::<RegistryError>() {
        return for_registry(error);
    }
    if let Some(error) = cause.downcast_ref::<EngineError>() {
        return for_engine(error);
    }
    cause.downcast_ref::<BuildError>().and_then(for_build)
}

/// The fix to suggest for `error`, if there is one to suggest.
pub fn for_error(error: &Error) -> Option<String> {
    Some(match error {
        // Each layer's failures have their own hints.
        Error::Registry(error) => return for_registry(error),
        Error::Engine(error) => return for_engine(error),
        Error::Build(error) => return for_build(error),
        Error::BadReference { .. } => {
            "write it as `[registry/]repository[:tag][@digest]`, e.g. `localhost:5000/arch-server:latest`".into()
        }
        Error::PlatformMissing { platform, .. } => {
            format!("build it for that platform: `multiarch build --platform {platform} --push`")
        }
        Error::PortTaken { port, .. } => format!(
            "choose another port, e.g. `--port {}`, or stop what listens there",
            port.saturating_add(1)
        ),
        Error::RegistryElsewhere { .. } => {
            "stop it first with `multiarch registry down`, or use the address it has".into()
        }
        Error::Layers { .. } => "the image's layers are damaged or not tar archives; push it again".into(),
        Error::BadEdit { source, reference } => match **source {
            EditError::NoSuchPlatform { .. } => {
                format!("`multiarch inspect {reference}` lists the platforms it has")
            }
            EditError::LastPlatform(_) => format!(
                "an image alone needs no index: copy that platform with `multiarch copy --single PLATFORM {reference} TARGET`, or delete the tag"
            ),
            _ => "`multiarch manifest --help` shows each edit's form".into(),
        },
        Error::Assemble { .. } => "`multiarch inspect` each source: an index lists images (or indexes) by digest, one per platform".into(),
        Error::PlatformTwice { .. } => "name one of them, or add the other under another tag".into(),
        Error::Merge(error) => return for_merge(error),
    })
}

/// The fix to suggest when a release's digests are not one per platform.
fn for_merge(error: &multiarch::manifest::error::MergeError) -> Option<String> {
    use multiarch::manifest::error::MergeError;
    Some(match error {
        MergeError::NotInRepository { .. } => "the digests folder holds another image's digest: upload each platform job's digests to a folder named for its image alone (`digests-IMAGE-PLATFORM`) and download with that pattern".into(),
        MergeError::Twice { .. } => "two jobs built that platform: keep one digest per platform in the folder".into(),
        MergeError::Missing { .. } => "that platform's job did not push or did not upload its digest: look at it, and do not publish a release without it".into(),
        MergeError::Unexpected { .. } => "name it in `--expect`, or leave its digest out".into(),
        MergeError::SeveralPlatforms { .. } => "give each platform's own digest (the platform jobs' `push-by-digest` output), not an index's".into(),
        MergeError::Empty { .. } | MergeError::NotADigest { .. } | MergeError::Unreadable { .. } => "a platform job writes its digest with `touch \"$DIR/${DIGEST#sha256:}\"` (Docker's documented pattern), or one `sha256:...` a line in a file".into(),
    })
}

/// The fix to suggest for a registry's failure, if there is one to suggest.
fn for_registry(error: &RegistryError) -> Option<String> {
    Some(match error {
        RegistryError::UnknownHost { registry, .. } => format!(
            "check the name: `{registry}` must resolve on this machine (its spelling, DNS, /etc/hosts, or a network at all); for the local registry use `localhost:5000`"
        ),
        RegistryError::Unreachable { registry, .. } if multiarch::oci::reference::is_local(registry) => format!(
            "is the registry running? for the local one: `multiarch registry up` (then it answers at http://{registry}/v2/)"
        ),
        RegistryError::Unreachable { registry, .. } => format!(
            "`{registry}` resolves but does not answer: check the network, a firewall or HTTPS_PROXY between this machine and it"
        ),
        RegistryError::HttpOnly { registry } => format!(
            "pass `--insecure {registry}` (or set MULTIARCH_INSECURE_REGISTRIES); for builds add `[registry.\"{registry}\"] http = true` to buildkitd.toml"
        ),
        RegistryError::NotFound { .. } => "check the tag, or push it first: `multiarch build --push`".into(),
        RegistryError::Unauthorized { reference, .. } => format!(
            "log in first: `docker login {}` (a wrong password stored there gets this answer too)",
            multiarch::oci::reference::parse(reference)
                .map(|r| r.resolve_registry().to_string())
                .unwrap_or_else(|_| "<registry>".into())
        ),
        RegistryError::Certificate { registry, .. } => format!(
            "trust its CA as Docker does: put it in /etc/docker/certs.d/{registry}/ca.crt (or point SSL_CERT_FILE at a bundle that holds it); a registry that also serves plain HTTP can be used with `--insecure {registry}`"
        ),
        RegistryError::DigestMismatch { .. } => {
            "the registry or something between you and it altered the content; do not use it".into()
        }
        RegistryError::Scratch { .. } => "large layers are read through a temporary file: check that the temporary folder (TMPDIR, else /tmp) has room for the largest one".into(),
        RegistryError::Transient { .. } => "the registry is busy or restarting: try again later, or longer with `--retries N` and `--retry-max-time SECONDS` (MULTIARCH_RETRIES, MULTIARCH_RETRY_MAX_TIME)".into(),
        // The last answer says what to do.
        RegistryError::GaveUp(gave_up) => return for_registry(&gave_up.last),
        RegistryError::BadAnswer { .. } => return None,
    })
}

/// The fix to suggest for a failure of the engine or of a container on it, if there is one to suggest.
fn for_engine(error: &EngineError) -> Option<String> {
    Some(match error {
        EngineError::Unreachable { .. } => {
            "start Docker (on a fresh Debian machine: `sudo scripts/testbed.sh up`), or set DOCKER_HOST".into()
        }
        EngineError::NotReady { container, .. } => format!("look at its logs: `docker logs {container}`"),
        EngineError::ImageUnavailable { image, .. } if image.contains("buildkit") => format!(
            "pull it (`docker pull {image}`), or use the engine's own BuildKit: `--driver docker`"
        ),
        EngineError::ImageUnavailable { image, .. } => format!(
            "pull it (`docker pull {image}`); where nothing can be pulled, `sudo scripts/testbed.sh up` builds registry:2 from Debian's packages"
        ),
        EngineError::ContainerExited { image, .. } => format!("see what it printed: `docker run --rm {image}`; a program that is not a server is checked with `multiarch verify --exec 'CMD'`"),
        EngineError::BadEndpoint { .. } => "an engine is `unix:///var/run/docker.sock`, `tcp://HOST:2376` (with its certificates), `ssh://USER@HOST[:PORT]` or a Docker context's name".into(),
        EngineError::SshRefused {
            destination,
            problem,
            ..
        } => for_ssh(destination, problem),
        EngineError::GaveUp(gave_up) => return for_engine(&gave_up.last),
        EngineError::Refused { .. } => return None,
    })
}

/// The fix to suggest for a failure of a builder, the build or a build node, if there is one to suggest.
fn for_build(error: &BuildError) -> Option<String> {
    Some(match error {
        BuildError::BuilderConflict { name, .. } => {
            format!("remove it first (`multiarch builder rm {name}`) or choose another name")
        }
        BuildError::NoSuchBuilder(_) => "create it: `multiarch builder create`".into(),
        BuildError::NoMultiPlatform => r#"add {"features":{"containerd-snapshotter":true}} to /etc/docker/daemon.json and restart dockerd, or use `--driver docker-container`"#.into(),
        BuildError::RegistryNotHttp { fix, .. } => fix.clone(),
        // `--sbom`: BuildKit pulls its scanner image itself.
        BuildError::BuildFailed { reason, .. } if reason.contains("buildkit-syft-scanner") => {
            "the SBOM scanner image cannot be pulled from here: name one BuildKit can pull with `--sbom=generator=REGISTRY/IMAGE`, or build without `--sbom`".into()
        }
        // No network: the Dockerfile's compile stage cannot pull its base image.
        BuildError::BuildFailed { reason, .. }
            if reason.contains("failed to resolve source metadata")
                || reason.contains("no such host")
                || reason.contains("dial tcp") =>
        {
            "a base image cannot be pulled from here: compile on the host with `scripts/build-dist.sh`, then hand the binaries to the Dockerfile instead of its compile stage: `--build-context build=dist`".into()
        }
        BuildError::BuildFailed { .. } => "the step's own output is above; fix it, then build again (finished steps come from the cache)".into(),
        BuildError::NeedsPush { .. } => "or build with a `--driver docker` builder, which keeps the image in the engine".into(),
        BuildError::BuilderDown { name, through_buildx: true, .. } => format!(
            "`multiarch builder ls` shows its status; `docker buildx inspect --bootstrap {name}` starts it and says what stops buildx reaching it"
        ),
        BuildError::BuilderDown { name, .. } => format!(
            "`multiarch builder ls` shows its status; a docker-container builder starts again with `docker buildx inspect --bootstrap {name}` (or `multiarch builder rm {name}` and create it again), a remote one needs its BuildKit daemon answering at that address"
        ),
        BuildError::Context { .. } => "check the folder and its .dockerignore".into(),
        BuildError::ContextImage { .. } => "this is the kit's own fault, not your context's: report it as a bug, with what `-v` prints".into(),
        BuildError::Unsupported { hint, .. } => hint.clone(),
        BuildError::BuilderUnusable { fix, .. } => fix.clone(),
        BuildError::BuildkitConfig(_) => {
            "fix the file: BuildKit (and `docker buildx`) refuse it as it is".into()
        }
        BuildError::BuilderRecord { path, .. } => format!("check that `{path}` and its folder can be written"),
        BuildError::BuildxStore(multiarch::buildkit::buildx_store::StoreError::BadName(_)) => {
            "name it as `docker buildx create --name` would: `kit-1`, `arm.builder`".into()
        }
        BuildError::BuildxStore(multiarch::buildkit::buildx_store::StoreError::BadEntry { path, .. }) => format!(
            "`docker buildx ls` fails on it too: fix `{}` or remove it",
            path.display()
        ),
        BuildError::BuildxStore(multiarch::buildkit::buildx_store::StoreError::Io { .. }) => {
            "check that buildx's store (`$BUILDX_CONFIG`, else ~/.docker/buildx) can be written".into()
        }
        BuildError::PushFailed { .. } => "once the registry answers again (`multiarch registry status`), run the same command: what was pushed is not sent twice".into(),
        BuildError::NodeUnreachable { source, .. }
            if source.downcast_ref::<EngineError>().is_some() =>
        {
            return source.downcast_ref::<EngineError>().and_then(for_engine);
        }
        BuildError::NodeUnreachable { node, buildx: Some(builder), .. } => format!(
            "does buildx reach it? `docker buildx inspect --bootstrap {builder}` starts it and says; `multiarch builder rm BUILDER --node {node}` builds without it"
        ),
        BuildError::NodeUnreachable { node, .. } => format!(
            "is its engine running and reachable? `multiarch builder ls` shows every node's status; `multiarch builder rm BUILDER --node {node}` builds without it"
        ),
        BuildError::NodeFailed { .. } => "the tag was not moved: what the other nodes pushed stays in the registry only as untagged manifests; run the build again once the node is back (`multiarch builder ls`)".into(),
        BuildError::BadNodes(_) => "`multiarch builder inspect NAME` shows its nodes".into(),
        BuildError::BadNodeSpec { .. } => "write a node as `NAME=unix:///var/run/docker.sock`, `NAME=tcp://HOST:2376,certs=DIR`, `NAME=ssh://USER@HOST[:PORT]`, `NAME=CONTEXT` or `NAME=buildx://BUILDER`, with `,platforms=P,P` to choose what it builds".into(),
        // BuildKit's own words, as the cause, say what it refused and why.
        BuildError::BuildkitRefused { .. } => return None,
    })
}

/// The fix for ssh's refusal to reach `destination` (`ssh://user@host:port`).
fn for_ssh(destination: &str, problem: &SshProblem) -> String {
    let (login, port, known) = match SshDestination::parse(destination) {
        Ok(d) => {
            let login = d
                .user
                .as_ref()
                .map_or(d.host.clone(), |u| format!("{u}@{}", d.host));
            let port = d.port.map(|p| format!("-p {p} ")).unwrap_or_default();
            let known = d
                .port
                .map_or(d.host.clone(), |p| format!("[{}]:{p}", d.host));
            (login, port, (d.host, known))
        }
        Err(_) => (
            "USER@HOST".into(),
            String::new(),
            ("HOST".into(), "HOST".into()),
        ),
    };
    let (host, known_as) = known;
    match problem {
        SshProblem::UnknownHostKey => format!(
            "this machine does not know the host's key, and the kit never accepts one by itself: check its fingerprint with the host's owner, then add it (`ssh-keyscan {port}{host} >> ~/.ssh/known_hosts`, or log in once with `ssh {port}{login}`)"
        ),
        SshProblem::ChangedHostKey => format!(
            "the host's key is not the one known_hosts holds: if its owner changed it, `ssh-keygen -R '{known_as}'` and add the new one; if not, something may stand between you and the host"
        ),
        SshProblem::NotAllowed => format!(
            "the host took none of the keys offered: load yours (`ssh-add KEY`) or name it in ~/.ssh/config (`IdentityFile`), and check the host's authorized_keys; `ssh {port}{login} true` shows the same refusal"
        ),
        SshProblem::NoAnswer => format!(
            "is sshd running there, on that port? `ssh {port}{login} true` tells"
        ),
        SshProblem::NoDocker => "the host needs the docker CLI: the kit runs `docker system dial-stdio` there, as DOCKER_HOST=ssh:// does".into(),
        SshProblem::Other => format!("`ssh {port}{login} docker system dial-stdio` shows what ssh says"),
    }
}
