//! The Docker engine, through bollard: connecting, and the label every container,
//! network and volume this kit creates carries, so leftovers can be found and removed
//! (`docker ps -a --filter label=io.github.multiarch.managed-by`).

pub mod endpoint;
mod error;
pub(crate) mod host;
pub mod ssh;

pub use error::EngineError;
pub(crate) use error::refused;

use std::sync::LazyLock;
use std::time::Duration;

use bollard::Docker;
use tokio_util::task::TaskTracker;

use error::Result;

/// The label key on everything this kit creates.
pub const MANAGED_BY_LABEL: &str = "io.github.multiarch.managed-by";
/// Its value.
pub(crate) const MANAGED_BY_VALUE: &str = "multiarch";

/// Engine requests that create something. The engine finishes a creation it has received
/// even when the client stops listening, so a container could appear just after Ctrl-C's
/// clean-up looked for it; each such request therefore runs as a task of its own, and the
/// clean-up waits for them first ([`creations_settled`]).
static CREATIONS: LazyLock<TaskTracker> = LazyLock::new(TaskTracker::new);

/// Runs an engine request that creates a container or an image to its end, even if the
/// caller is dropped half-way (Ctrl-C), and returns its result.
pub async fn creating<F>(request: F) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    CREATIONS
        .spawn(request)
        .await
        .expect("an engine request runs to its end without panicking")
}

/// Waits (at most `limit`) for the creations under way to finish: called once, by the
/// clean-up after Ctrl-C, when the command has been dropped and starts nothing new.
pub async fn creations_settled(limit: Duration) {
    CREATIONS.close();
    if tokio::time::timeout(limit, CREATIONS.wait()).await.is_err() {
        tracing::warn!("an engine request was still creating something after {limit:?}");
    }
}

/// Connects to the engine named by `DOCKER_HOST` (or the local socket), checks that it
/// answers, and negotiates the API version.
///
/// # Errors
/// [`EngineError::Unreachable`] when nothing answers within a few seconds.
pub async fn connect() -> Result<Docker> {
    let docker = Docker::connect_with_local_defaults()
        .map_err(|e| EngineError::Unreachable { source: e.into() })?;
    match tokio::time::timeout(Duration::from_secs(5), docker.ping()).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => {
            return Err(EngineError::Unreachable { source: e.into() });
        }
        Err(_) => {
            return Err(EngineError::Unreachable {
                source: "no answer within 5 s".into(),
            });
        }
    }
    docker
        .negotiate_version()
        .await
        .map_err(|e| EngineError::Unreachable { source: e.into() })
}

/// A container to run with one port published on loopback.
#[derive(Debug, Clone, Default)]
pub struct RunSpec {
    /// The image reference.
    pub image: String,
    /// The platform to run; under QEMU when it is not the host's.
    pub platform: Option<multiarch_platform::Platform>,
    /// The port the server listens on inside the container.
    pub container_port: u16,
    /// Extra labels, added to [`MANAGED_BY_LABEL`].
    pub labels: std::collections::HashMap<String, String>,
    /// Arguments after the image's entrypoint.
    pub cmd: Option<Vec<String>>,
    /// `KEY=VALUE` environment variables (`QEMU_CPU=arm1176` picks the emulated CPU).
    pub env: Vec<String>,
    /// Instead of the image's entrypoint (the image's command is then not used either,
    /// as with `docker run --entrypoint`: give it in `cmd`).
    pub entrypoint: Option<Vec<String>>,
    /// Files put into the container before it starts, as `docker cp` would.
    pub files: Vec<ContainerFile>,
}

/// A file to put into a container before it starts.
#[derive(Debug, Clone)]
pub struct ContainerFile {
    /// Its absolute path in the container.
    pub path: String,
    /// Its bytes.
    pub bytes: std::sync::Arc<Vec<u8>>,
    /// Its mode (`0o755` for a program).
    pub mode: u32,
}

/// A container started by [`run_published`].
#[derive(Debug, Clone)]
pub struct Started {
    /// The container id.
    pub id: String,
    /// The loopback port its `container_port` is published on.
    pub host_port: u16,
}

/// Whether the engine's `docker0` bridge exists. Without it, traffic to published
/// ports leaves the machine instead of reaching the container.
pub fn bridge_present() -> bool {
    std::path::Path::new("/sys/class/net/docker0").exists()
}

/// Creates and starts a labelled container with `container_port` published on a free
/// port of `127.0.0.1` (never on every interface).
///
/// On any failure after creation the container is removed again.
///
/// # Errors
/// [`EngineError::Refused`] naming the image and platform.
pub async fn run_published(docker: &Docker, spec: &RunSpec) -> Result<Started> {
    use bollard::models::PortBinding;

    let port_key = format!("{}/tcp", spec.container_port);
    let mut body = create_body(spec);
    body.exposed_ports = Some(vec![port_key.clone()]);
    if let Some(host) = body.host_config.as_mut() {
        host.port_bindings = Some(
            [(
                port_key.clone(),
                Some(vec![PortBinding {
                    host_ip: Some("127.0.0.1".into()),
                    host_port: Some(String::new()),
                }]),
            )]
            .into(),
        );
    }
    let (options, action) = create_options(spec);
    let action = || action.clone();
    let created = creating({
        let docker = docker.clone();
        async move { docker.create_container(Some(options), body).await }
    })
    .await
    .map_err(crate::engine::refused(action()))?;
    let id = created.id;
    let started = async {
        put_files(docker, &id, &spec.files).await?;
        docker
            .start_container(&id, None)
            .await
            .map_err(crate::engine::refused(action()))?;
        let inspected = docker
            .inspect_container(&id, None)
            .await
            .map_err(crate::engine::refused(action()))?;
        // A program that ends at once leaves no port to reach: say how it ended.
        if inspected.state.as_ref().and_then(|s| s.running) == Some(false) {
            let ended = exited(docker, &id).await?;
            return Err(EngineError::ContainerExited {
                image: spec.image.clone(),
                code: ended.code,
                last_lines: ended.last_lines,
            });
        }
        inspected
            .network_settings
            .and_then(|n| n.ports)
            .and_then(|ports| ports.get(&port_key).cloned().flatten())
            .and_then(|bindings| bindings.into_iter().find_map(|b| b.host_port))
            .and_then(|port| port.parse::<u16>().ok())
            .ok_or_else(|| EngineError::Refused {
                action: action(),
                source: format!("the engine published no port for {port_key}").into(),
            })
    }
    .await;
    match started {
        Ok(host_port) => Ok(Started { id, host_port }),
        Err(error) => {
            remove(docker, &id).await;
            Err(error)
        }
    }
}

/// Stops a container (SIGTERM, then SIGKILL after `grace`) and returns its exit code.
///
/// # Errors
/// [`EngineError::Refused`] when the engine refuses.
pub async fn stop(docker: &Docker, id: &str, grace: Duration) -> Result<i64> {
    use bollard::query_parameters::StopContainerOptionsBuilder;
    let seconds = i32::try_from(grace.as_secs()).unwrap_or(i32::MAX);
    docker
        .stop_container(
            id,
            Some(StopContainerOptionsBuilder::new().t(seconds).build()),
        )
        .await
        .map_err(crate::engine::refused(format!("stop container `{id}`")))?;
    let inspected = docker
        .inspect_container(id, None)
        .await
        .map_err(crate::engine::refused(format!("inspect container `{id}`")))?;
    Ok(inspected.state.and_then(|s| s.exit_code).unwrap_or(-1))
}

/// Removes a container and its anonymous volumes, ignoring one that is already gone.
pub async fn remove(docker: &Docker, id: &str) {
    use bollard::query_parameters::RemoveContainerOptionsBuilder;
    let options = RemoveContainerOptionsBuilder::new()
        .force(true)
        .v(true)
        .build();
    if let Err(e) = docker.remove_container(id, Some(options)).await {
        tracing::debug!(%id, error = %e, "container already gone");
    }
}

/// The engine's own message, without bollard's wrapping.
pub(crate) fn engine_message(error: &bollard::errors::Error) -> String {
    match error {
        bollard::errors::Error::DockerResponseServerError { message, .. } => message.clone(),
        other => crate::cause::root_cause(other),
    }
}

/// How a container ended: its exit code and the last lines it printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exited {
    /// The exit code (137 when killed, 132 for an illegal instruction under QEMU).
    pub code: i64,
    /// Its last lines of output, stdout and stderr together.
    pub last_lines: Vec<String>,
}

/// The create request for `spec`: its command and environment, its labels with the
/// kit's, and the engine's init as PID 1. The kernel ignores a signal PID 1 raises for
/// itself, and QEMU raises SIGILL so for an instruction the emulated CPU lacks: as PID 1
/// the program would hang instead of dying with code 132.
fn create_body(spec: &RunSpec) -> bollard::models::ContainerCreateBody {
    let mut labels = spec.labels.clone();
    labels.insert(MANAGED_BY_LABEL.into(), MANAGED_BY_VALUE.into());
    bollard::models::ContainerCreateBody {
        image: Some(spec.image.clone()),
        entrypoint: spec.entrypoint.clone(),
        cmd: spec.cmd.clone(),
        env: (!spec.env.is_empty()).then(|| spec.env.clone()),
        labels: Some(labels),
        host_config: Some(bollard::models::HostConfig {
            init: Some(true),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Puts `files` into the created container `id`, in one tar archive.
///
/// # Errors
/// [`EngineError::Refused`] when the engine refuses the archive.
pub(crate) async fn put_files(docker: &Docker, id: &str, files: &[ContainerFile]) -> Result<()> {
    if files.is_empty() {
        return Ok(());
    }
    let mut archive = tar::Builder::new(Vec::new());
    for file in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(file.bytes.len() as u64);
        header.set_mode(file.mode);
        header.set_cksum();
        archive
            .append_data(
                &mut header,
                file.path.trim_start_matches('/'),
                file.bytes.as_slice(),
            )
            .map_err(|e| EngineError::Refused {
                action: format!("put `{}` into container `{id}`", file.path),
                source: e.into(),
            })?;
    }
    let archive = archive.into_inner().map_err(|e| EngineError::Refused {
        action: format!("put files into container `{id}`"),
        source: e.into(),
    })?;
    let options = bollard::query_parameters::UploadToContainerOptionsBuilder::new()
        .path("/")
        .build();
    docker
        .upload_to_container(id, Some(options), bollard::body_full(archive.into()))
        .await
        .map_err(crate::engine::refused(format!(
            "put files into container `{id}`"
        )))
}

/// The create options for `spec` (its platform), and what to call the run in errors.
fn create_options(spec: &RunSpec) -> (bollard::query_parameters::CreateContainerOptions, String) {
    let mut options = bollard::query_parameters::CreateContainerOptionsBuilder::new();
    if let Some(platform) = &spec.platform {
        options = options.platform(&platform.to_string());
    }
    let action = format!(
        "run `{}`{}",
        spec.image,
        spec.platform
            .as_ref()
            .map(|p| format!(" for `{p}`"))
            .unwrap_or_default()
    );
    (options.build(), action)
}

/// Waits for container `id` to stop and says how it ended; pending while it runs.
///
/// # Errors
/// [`EngineError::Refused`] when the engine cannot wait for it.
pub async fn exited(docker: &Docker, id: &str) -> Result<Exited> {
    use bollard::query_parameters::{LogsOptionsBuilder, WaitContainerOptions};
    use futures_util::StreamExt;
    let waited = docker
        .wait_container(id, None::<WaitContainerOptions>)
        .next()
        .await;
    let code = match waited {
        Some(Ok(response)) => response.status_code,
        // bollard reports a non-zero exit as an error carrying the code.
        Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => code,
        Some(Err(e)) => {
            return Err(crate::engine::refused(format!("wait for container `{id}`"))(e));
        }
        None => -1,
    };
    let options = LogsOptionsBuilder::new()
        .stdout(true)
        .stderr(true)
        .tail("5")
        .build();
    let mut last_lines = Vec::new();
    let mut logs = docker.logs(id, Some(options));
    while let Some(Ok(chunk)) = logs.next().await {
        last_lines.extend(
            String::from_utf8_lossy(&chunk.into_bytes())
                .lines()
                .map(str::to_string),
        );
    }
    Ok(Exited { code, last_lines })
}

/// Runs a labelled container to its end (no port published), at most `timeout`, and
/// removes it: how it ended.
///
/// # Errors
/// [`EngineError::Refused`] when it cannot be created or started; [`EngineError::NotReady`] when it
/// is still running after `timeout` (it is removed all the same).
pub(crate) async fn run_to_exit(
    docker: &Docker,
    spec: &RunSpec,
    timeout: Duration,
) -> Result<Exited> {
    let body = create_body(spec);
    let (options, action) = create_options(spec);
    let created = creating({
        let docker = docker.clone();
        async move { docker.create_container(Some(options), body).await }
    })
    .await
    .map_err(crate::engine::refused(action.clone()))?;
    let result = async {
        put_files(docker, &created.id, &spec.files).await?;
        docker
            .start_container(&created.id, None)
            .await
            .map_err(crate::engine::refused(action.clone()))?;
        match tokio::time::timeout(timeout, exited(docker, &created.id)).await {
            Ok(result) => result,
            Err(_) => Err(EngineError::NotReady {
                url: format!("the command of `{}`", spec.image),
                seconds: timeout.as_secs(),
                last: "it was still running".into(),
                container: created.id.clone(),
            }),
        }
    }
    .await;
    remove(docker, &created.id).await;
    result
}

/// Removes a volume; one that is already gone is fine.
///
/// # Errors
/// [`EngineError::Refused`] when the engine refuses (the volume is in use, say).
pub(crate) async fn remove_volume(docker: &Docker, name: &str) -> Result<()> {
    match docker
        .remove_volume(name, None::<bollard::query_parameters::RemoveVolumeOptions>)
        .await
    {
        Ok(())
        | Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => Ok(()),
        Err(e) => Err(crate::engine::refused(format!("remove volume `{name}`"))(e)),
    }
}

/// Removes every container carrying `key=value` (used on Ctrl-C). Returns how many.
///
/// A container whose start was still under way when the command was dropped can refuse
/// a forced removal for a moment ("removal ... is already in progress", "is starting"),
/// so the list is read again until it is empty, for at most two seconds.
pub async fn remove_labelled(docker: &Docker, key: &str, value: &str) -> usize {
    use bollard::query_parameters::ListContainersOptionsBuilder;
    let filters =
        std::collections::HashMap::from([("label".to_string(), vec![format!("{key}={value}")])]);
    let mut removed = std::collections::HashSet::new();
    for _ in 0..10 {
        let options = ListContainersOptionsBuilder::new()
            .all(true)
            .filters(&filters)
            .build();
        let containers = docker
            .list_containers(Some(options))
            .await
            .unwrap_or_default();
        if containers.is_empty() {
            break;
        }
        for id in containers.iter().filter_map(|c| c.id.as_ref()) {
            remove(docker, id).await;
            removed.insert(id.clone());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    removed.len()
}

/// The label that ties containers to one invocation of the CLI.
pub const SESSION_LABEL: &str = "io.github.multiarch.session";

/// This invocation's id for [`SESSION_LABEL`]: every container the CLI starts carries
/// it, so that Ctrl-C can remove exactly what this run started, whatever it was doing.
pub fn session_id() -> &'static str {
    static SESSION: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SESSION.get_or_init(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default();
        format!("{}-{nanos}", std::process::id())
    })
}

/// The labels of a container this invocation starts: the kit's, the session's, and the
/// user's own ([`set_extra_labels`]).
pub fn session_labels() -> std::collections::HashMap<String, String> {
    let mut labels = extra_labels();
    labels.extend([
        (MANAGED_BY_LABEL.to_string(), MANAGED_BY_VALUE.to_string()),
        (SESSION_LABEL.to_string(), session_id().to_string()),
    ]);
    labels
}

static EXTRA_LABELS: std::sync::OnceLock<Vec<(String, String)>> = std::sync::OnceLock::new();

/// Labels the user wants on everything the kit creates in the engine (containers, volumes,
/// images of named contexts), so that a CI job can find and remove what it left: set once
/// by the command line, before anything is created. A second call is ignored.
pub fn set_extra_labels(labels: Vec<(String, String)>) {
    let _ = EXTRA_LABELS.set(labels);
}

/// The labels of [`set_extra_labels`], none when it was not called.
pub fn extra_labels() -> std::collections::HashMap<String, String> {
    EXTRA_LABELS.get().into_iter().flatten().cloned().collect()
}

/// The platform the engine runs natively (from its reported architecture).
pub async fn engine_platform(docker: &Docker) -> Option<multiarch_platform::Platform> {
    let info = docker.info().await.ok()?;
    multiarch_platform::Platform::from_machine(info.architecture.as_deref()?)
}

/// Whether the engine uses the containerd image store (needed for multi-platform images).
pub async fn containerd_store(docker: &Docker) -> bool {
    docker
        .info()
        .await
        .is_ok_and(|info| uses_containerd_store(&info))
}

/// Whether an engine's `info` says it stores images in containerd.
pub(crate) fn uses_containerd_store(info: &bollard::models::SystemInfo) -> bool {
    info.driver_status
        .iter()
        .flatten()
        .flatten()
        .any(|s| s.contains("io.containerd.snapshotter"))
}

/// Pulls `image` when the engine does not have it.
///
/// # Errors
/// [`EngineError::ImageUnavailable`] with the engine's reason.
pub(crate) async fn ensure_image(docker: &Docker, image: &str) -> Result<()> {
    use futures_util::TryStreamExt;
    if docker.inspect_image(image).await.is_ok() {
        return Ok(());
    }
    let options = bollard::query_parameters::CreateImageOptionsBuilder::new()
        .from_image(image)
        .build();
    docker
        .create_image(Some(options), None, None)
        .try_collect::<Vec<_>>()
        .await
        .map(|_| ())
        .map_err(|e| EngineError::ImageUnavailable {
            image: image.to_string(),
            source: e,
        })
}
