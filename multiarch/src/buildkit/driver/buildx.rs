//! A buildx builder as a build node (`--node NAME=buildx://BUILDER`), whatever its driver:
//! docker-container, remote, kubernetes, cloud, or a vendor's that installs itself as a
//! buildx builder. The two kinds the kit runs itself are reached as the kit reaches its
//! own: a docker-container builder through its engine (`buildctl dial-stdio` by exec), a
//! remote one at its address with its certificates. Any other builder, and one of several
//! nodes, is reached through buildx itself, which hands over a BuildKit connection on the
//! builder's node for a platform (`docker buildx dial-stdio --platform P`, buildx 0.13
//! and later). Either way it runs as the user: the kit reaches only what they may reach,
//! and opens no port.
//!
//! buildx's `dial-stdio` does not end when its builder goes away (it waits on its stdin),
//! so a connection through it is only found dead when a keepalive ping goes unanswered:
//! HTTP/2 pings every [`KEEPALIVE`], just over the five minutes BuildKit's gRPC server
//! allows between pings before it hangs up on a client.
//!
//! Each platform is solved on the node buildx picks for it, with BuildKit's OCI exporter;
//! the result arrives as an image layout, and is pushed by digest as an engine node's is
//! (the build spread over nodes).

use std::process::Stdio;
use std::time::Duration;

use bollard::grpc::BuildRef;
use bollard::grpc::build::{ImageBuildFrontendOptions, ImageBuildLoadInput};
use bollard::grpc::driver::buildkitd::BuildkitDaemon;
use bollard::grpc::driver::{Export, ImageExporterEnum};
use bollard::grpc::export::ImageExporterOutput;

use multiarch_platform::Platform;

use crate::buildkit::DaemonInfo;
use crate::buildkit::builder::{Builder, Status};
use crate::buildkit::buildx_store::Store;
use crate::buildkit::dial::{Bridge, Dialer, dial_stdio};
use crate::buildkit::driver::{Answer, container, remote};
use crate::buildkit::profile::StepTime;
use crate::buildkit::solve;

/// How often a build's connection is pinged: grpc-go servers (BuildKit's) hang up on a
/// client that pings more often than every five minutes.
pub(crate) const KEEPALIVE: Duration = Duration::from_secs(330);

/// How long buildx may take to boot the builder and answer (a docker-container builder
/// whose container is stopped is started first, as `docker buildx build` does).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(90);

/// How to reach the builder's BuildKit on its node for `platform`: a docker-container
/// builder of one node through its engine (started first if stopped, as buildx boots a
/// node before a build), a remote one of one node at its address; any other through
/// `docker buildx dial-stdio`.
///
/// # Errors
/// No such builder in buildx's store, or the kit's own way to it fails.
pub(crate) async fn dialer(
    store: &Store,
    builder: &str,
    platform: Option<&Platform>,
) -> Result<Dialer, String> {
    let why = |e: crate::error::Error| crate::cause::root_cause(&e);
    let group = store
        .get(builder)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| {
            format!("buildx has no builder named `{builder}` (`docker buildx ls` lists them)")
        })?;
    match Builder::from_node_group(group) {
        Builder::Container(container) => {
            let docker = container::engine(&container).await.map_err(why)?;
            container::bootstrap(&docker, &container)
                .await
                .map_err(why)?;
            Ok(container::dialer(&docker, &container))
        }
        Builder::Remote(remote) => remote::dialer(&remote).map_err(why),
        _ => Ok(Dialer::Buildx {
            builder: builder.to_string(),
            platform: platform.map(Platform::to_string),
        }),
    }
}

/// Asks the builder's BuildKit for its version and its workers' platforms.
///
/// # Errors
/// Why not: the kit's words, or buildx's own last ones (its node does not start, ...).
pub async fn describe(store: &Store, builder: &str) -> Result<DaemonInfo, String> {
    let asked = async {
        let dialer = dialer(store, builder, None).await?;
        let through_buildx = matches!(dialer, Dialer::Buildx { .. });
        let described = async {
            let channel = dialer.channel().await.map_err(|e| e.to_string())?;
            crate::buildkit::control::describe(channel)
                .await
                .map_err(|e| crate::cause::root_cause(&e))
        };
        match described.await {
            Ok(info) => Ok(info),
            Err(why) if through_buildx => Err(buildx_says(builder).await.unwrap_or(why)),
            Err(why) => Err(why),
        }
    };
    tokio::time::timeout(ANSWER_TIMEOUT, asked)
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {} s", ANSWER_TIMEOUT.as_secs())))
}

/// Its status: what its BuildKit says of itself, or buildx's words for why not.
pub(crate) async fn info(store: &Store, builder: &str) -> Answer {
    match describe(store, builder).await {
        Ok(info) => Answer::running(info.version, info.platforms),
        Err(why) => Answer::silent(Status::Unreachable(why)),
    }
}

/// What `docker buildx dial-stdio` says when it cannot reach the builder: its last line.
async fn buildx_says(builder: &str) -> Option<String> {
    let mut command = dial_stdio(builder, None);
    command
        .kill_on_drop(true)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let output = tokio::time::timeout(Duration::from_secs(30), command.output())
        .await
        .ok()?;
    let output = match output {
        Ok(output) => output,
        Err(e) => return Some(format!("cannot run `docker buildx`: {e}")),
    };
    let said = String::from_utf8_lossy(&output.stderr);
    said.lines()
        .map(str::trim)
        .rfind(|line| !line.is_empty())
        .map(|line| line.trim_start_matches("ERROR: ").to_string())
}

/// The platforms the builder's owner pinned on its nodes (`docker buildx create
/// --platform`), which buildx's `ls` marks with `*`: such a node is meant for them.
pub(crate) fn pinned(store: &Store, builder: &str) -> Vec<Platform> {
    let Ok(Some(group)) = store.get(builder) else {
        return Vec::new();
    };
    group
        .nodes
        .iter()
        .flat_map(|node| node.platforms.iter().flatten())
        .filter_map(|p| p.to_string().parse().ok())
        .collect()
}

/// What such a node serves natively and under emulation: BuildKit lists its own
/// platform first, then what its emulators add.
pub(crate) fn split_native(info: &DaemonInfo) -> (Vec<Platform>, Vec<Platform>) {
    let platforms: Vec<Platform> = info
        .platforms
        .iter()
        .filter_map(|p| p.parse().ok())
        .collect();
    let Some(own) = platforms.first().cloned() else {
        return (Vec::new(), Vec::new());
    };
    platforms
        .into_iter()
        .partition(|p| crate::engine::host::runs_natively(&own, p))
}

/// Solves one platform on the builder's node for it and returns the result as an OCI
/// image layout (a tar) and the solve's step times, progress lines going to `on_line`.
///
/// # Errors
/// The failing step's words, or why the connection went.
pub(crate) async fn build_platform(
    store: &Store,
    builder: &str,
    platform: &Platform,
    options: ImageBuildFrontendOptions,
    context: bytes::Bytes,
    on_line: impl Fn(String),
) -> Result<(Vec<u8>, Vec<StepTime>), String> {
    let dialer = dialer(store, builder, Some(platform)).await?;
    let bridge = Bridge::start(dialer, 2)
        .map_err(|e| format!("cannot open a private socket for BuildKit's connection: {e}"))?;
    let scratch = tempfile::Builder::new()
        .prefix("multiarch-node-")
        .tempdir()
        .map_err(|e| format!("cannot make a scratch folder for its result: {e}"))?;
    let layout = scratch.path().join("result.tar");
    let exporter = ImageExporterOutput::builder("multiarch-node").dest(&layout);
    let build_ref = BuildRef::random();
    let endpoint = bridge
        .endpoint()
        .http2_keep_alive_interval(KEEPALIVE)
        .keep_alive_timeout(Duration::from_secs(30));
    let solve = BuildkitDaemon::new(endpoint).export(
        ImageExporterEnum::OCI(exporter),
        options,
        ImageBuildLoadInput::Upload(context),
        None,
        Some(build_ref.clone()),
    );
    let (solved, progress) = solve::solve_following(
        Some(bridge.lazy_channel()),
        build_ref.as_ref(),
        solve,
        on_line,
    )
    .await;
    solved.map_err(|e| match progress.failure() {
        Some(step) => step.to_string(),
        None => format!(
            "the connection to its BuildKit was lost in the middle of the build ({})",
            solve::grpc_message(&e)
        ),
    })?;
    let layout = std::fs::read(&layout).map_err(|e| format!("its result did not arrive: {e}"))?;
    Ok((layout, progress.times().to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(platforms: &[&str]) -> DaemonInfo {
        DaemonInfo {
            version: "v0.25.0".into(),
            platforms: platforms.iter().map(|p| p.to_string()).collect(),
        }
    }

    #[test]
    fn the_first_worker_platform_and_its_cpu_levels_are_native() {
        let (native, emulated) = split_native(&info(&[
            "linux/amd64",
            "linux/amd64/v2",
            "linux/386",
            "linux/arm64",
            "linux/riscv64",
        ]));
        let names = |list: &[Platform]| list.iter().map(|p| p.to_string()).collect::<Vec<_>>();
        assert_eq!(
            names(&native),
            ["linux/amd64", "linux/amd64/v2", "linux/386"]
        );
        assert_eq!(names(&emulated), ["linux/arm64", "linux/riscv64"]);
        let (native, emulated) = split_native(&info(&["linux/arm64", "linux/amd64"]));
        assert_eq!(names(&native), ["linux/arm64"]);
        assert_eq!(names(&emulated), ["linux/amd64"]);
        assert_eq!(split_native(&info(&[])), (Vec::new(), Vec::new()));
    }

    #[test]
    fn buildx_is_asked_for_the_node_of_the_platform() {
        let command = dial_stdio("fleet", Some("linux/arm64"));
        let line: Vec<_> = std::iter::once(command.as_std().get_program())
            .chain(command.as_std().get_args())
            .map(|w| w.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            line.join(" "),
            "docker buildx --builder fleet dial-stdio --progress quiet --platform linux/arm64"
        );
    }
}
