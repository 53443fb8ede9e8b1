//! The local registry container: start it (idempotently), stop it, and say how it is.
//!
//! Its settings come from `registry.yml` ([`compose`]). Starting twice reuses the
//! running container, a stopped one is started again, and its data lives in a named
//! volume that survives `down` unless the volume is asked to go too.

pub mod compose;

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use bollard::Docker;
use bollard::models::{
    ContainerCreateBody, HostConfig, PortBinding, RestartPolicy, RestartPolicyNameEnum,
    VolumeCreateRequest,
};
use bollard::query_parameters::CreateContainerOptionsBuilder;

use crate::engine::EngineError;
use crate::engine::{MANAGED_BY_LABEL, MANAGED_BY_VALUE, engine_message, remove};
use crate::error::{Error, Result};
use crate::local_registry::compose::RegistrySpec;
use crate::registry::RegistryError;

/// What `up` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpOutcome {
    /// A new container was created and started.
    Created,
    /// A stopped container was started again.
    Restarted,
    /// It was already running.
    AlreadyRunning,
}

/// How the local registry is.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Status {
    /// The container's name.
    pub container: String,
    /// The registry it is a pull-through cache of (`registry up --mirror`), if any.
    pub mirror_of: Option<String>,
    /// Its image.
    pub image: String,
    /// `running`, `exited`, or `absent`.
    pub state: String,
    /// Where it is published, e.g. `127.0.0.1:5000`.
    pub published: Option<String>,
    /// Whether `/v2/` answered.
    pub answers: bool,
    /// Whether other machines can reach it (published on a non-loopback address).
    pub exposed: bool,
    /// Repositories it holds.
    pub repositories: Vec<String>,
    /// The data volume.
    pub volume: String,
}

/// The label that records which registry a container mirrors.
const MIRROR_LABEL: &str = "io.github.multiarch.mirror-of";

/// Where the upstream's CA goes in the container; Go's TLS reads every file of the folders
/// in `SSL_CERT_DIR`, so the system's CAs stay trusted beside it.
const MIRROR_CA_DIR: &str = "/etc/multiarch/mirror-ca";

/// The local registry as a pull-through cache of another (the distribution registry's
/// proxy mode): it serves what it has pulled once, also when the upstream is gone, and
/// refuses pushes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mirror {
    /// The upstream, `https://registry-1.docker.io`.
    pub remote: String,
    /// The upstream's login, when it wants one.
    pub login: Option<(String, String)>,
    /// A CA to trust for the upstream beside the system's (PEM).
    pub ca: Option<Vec<u8>>,
}

impl Mirror {
    /// The registry's own settings for it (its environment).
    ///
    /// distribution 2.8's proxy hands `REGISTRY_PROXY_USERNAME`/`PASSWORD` only to a token
    /// server (Docker Hub's kind of login); an upstream that asks for Basic auth gets
    /// nothing and answers 401, which the proxy reports as "manifest unknown". The login
    /// also goes into the URL's user part, which Go's HTTP client sends as Basic auth when
    /// nothing else authorises a request, so both kinds of upstream work.
    fn environment(&self) -> Vec<String> {
        let mut remote = self.remote.clone();
        if let Some((user, password)) = &self.login {
            if let Ok(mut url) = reqwest::Url::parse(&self.remote) {
                if url.set_username(user).is_ok() && url.set_password(Some(password)).is_ok() {
                    remote = url.as_str().trim_end_matches('/').to_string();
                }
            }
        }
        let mut env = vec![format!("REGISTRY_PROXY_REMOTEURL={remote}")];
        if let Some((user, password)) = &self.login {
            env.push(format!("REGISTRY_PROXY_USERNAME={user}"));
            env.push(format!("REGISTRY_PROXY_PASSWORD={password}"));
        }
        if self.ca.is_some() {
            env.push(format!("SSL_CERT_DIR=/etc/ssl/certs:{MIRROR_CA_DIR}"));
        }
        env
    }
}

/// What `daemon.json` needs for engines to pull through the mirror at `address`.
pub fn daemon_json_line(address: &str) -> String {
    format!("\"registry-mirrors\": [\"http://{address}\"]")
}

fn labels(spec: &RegistrySpec) -> HashMap<String, String> {
    let mut labels = crate::engine::extra_labels();
    labels.extend(spec.labels.clone());
    labels.insert(MANAGED_BY_LABEL.into(), MANAGED_BY_VALUE.into());
    if let Some(mirror) = &spec.mirror {
        labels.insert(MIRROR_LABEL.into(), mirror.remote.clone());
    }
    labels
}

/// The upstream an existing container mirrors, as its label says.
fn mirror_of(inspect: &bollard::models::ContainerInspectResponse) -> Option<String> {
    inspect
        .config
        .as_ref()?
        .labels
        .as_ref()?
        .get(MIRROR_LABEL)
        .cloned()
}

/// The upstream that the running registry published on `port` mirrors, when it is one
/// the kit started with `--mirror`.
pub(crate) async fn mirror_on_port(docker: &Docker, port: u16) -> Option<String> {
    use bollard::query_parameters::ListContainersOptionsBuilder;
    let filters = HashMap::from([("label".to_string(), vec![MIRROR_LABEL.to_string()])]);
    let options = ListContainersOptionsBuilder::new()
        .filters(&filters)
        .build();
    let containers = docker.list_containers(Some(options)).await.ok()?;
    containers.into_iter().find_map(|c| {
        let publishes = c
            .ports
            .iter()
            .flatten()
            .any(|p| p.public_port == Some(port));
        publishes
            .then(|| c.labels.as_ref()?.get(MIRROR_LABEL).cloned())
            .flatten()
    })
}

/// How a registry is described in a conflict: its address, and what it mirrors.
fn described(address: &str, mirror: Option<&str>) -> String {
    match mirror {
        Some(remote) => format!("{address} as a mirror of {remote}"),
        None => format!("{address} as a registry of its own"),
    }
}

fn port_key(spec: &RegistrySpec) -> String {
    format!("{}/tcp", spec.container_port)
}

/// Where an existing container publishes the registry port.
fn published(
    inspect: &bollard::models::ContainerInspectResponse,
    key: &str,
) -> Option<(String, String)> {
    let bindings = inspect
        .host_config
        .as_ref()?
        .port_bindings
        .as_ref()?
        .get(key)?
        .clone()?;
    let binding = bindings.into_iter().next()?;
    Some((
        binding
            .host_ip
            .filter(|ip| !ip.is_empty())
            .unwrap_or_else(|| "0.0.0.0".into()),
        binding.host_port.unwrap_or_default(),
    ))
}

/// Starts the registry, reusing what exists, and waits until `/v2/` answers.
///
/// # Errors
/// [`Error::PortTaken`] when another program holds the port, [`Error::RegistryElsewhere`]
/// when it already runs on another address, [`EngineError::ImageUnavailable`] when the image
/// can be neither found nor pulled, [`EngineError::NotReady`] when it does not answer.
pub async fn up(docker: &Docker, spec: &RegistrySpec) -> Result<UpOutcome> {
    let key = port_key(spec);
    let wanted = (spec.bind.to_string(), spec.host_port.to_string());
    let outcome = match docker.inspect_container(&spec.container_name, None).await {
        Ok(existing) => {
            let running = existing
                .state
                .as_ref()
                .and_then(|s| s.running)
                .unwrap_or(false);
            let has = published(&existing, &key);
            let mirrors = mirror_of(&existing);
            let wanted_mirror = spec.mirror.as_ref().map(|m| m.remote.clone());
            if has.as_ref() != Some(&wanted) || mirrors != wanted_mirror {
                let running_at =
                    has.map_or("no port".to_string(), |(ip, port)| format!("{ip}:{port}"));
                if running {
                    return Err(Error::RegistryElsewhere {
                        container: spec.container_name.clone(),
                        running: described(&running_at, mirrors.as_deref()),
                        wanted: described(
                            &format!("{}:{}", wanted.0, wanted.1),
                            wanted_mirror.as_deref(),
                        ),
                    });
                }
                // Stopped with other settings: recreate it; the data volume stays.
                remove(docker, &spec.container_name).await;
                create(docker, spec).await?;
                UpOutcome::Created
            } else if running {
                UpOutcome::AlreadyRunning
            } else {
                check_port_free(spec.bind, spec.host_port)?;
                start(docker, spec).await?;
                UpOutcome::Restarted
            }
        }
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => {
            create(docker, spec).await?;
            UpOutcome::Created
        }
        Err(e) => {
            return Err(Error::Engine(EngineError::Refused {
                action: format!("inspect container `{}`", spec.container_name),
                source: e.into(),
            }));
        }
    };
    wait_ready(
        spec,
        &format!("http://{}/v2/", probe_address(spec)),
        Duration::from_secs(20),
    )
    .await?;
    Ok(outcome)
}

async fn create(docker: &Docker, spec: &RegistrySpec) -> Result<()> {
    check_port_free(spec.bind, spec.host_port)?;
    crate::engine::ensure_image(docker, &spec.image).await?;
    docker
        .create_volume(VolumeCreateRequest {
            name: Some(spec.volume.clone()),
            labels: Some(labels(spec)),
            ..Default::default()
        })
        .await
        .map_err(crate::engine::refused(format!(
            "create volume `{}`",
            spec.volume
        )))?;
    let key = port_key(spec);
    let body = ContainerCreateBody {
        image: Some(spec.image.clone()),
        env: Some(
            spec.environment
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .chain(spec.mirror.iter().flat_map(Mirror::environment))
                .collect(),
        ),
        labels: Some(labels(spec)),
        exposed_ports: Some(vec![key.clone()]),
        host_config: Some(HostConfig {
            port_bindings: Some(
                [(
                    key,
                    Some(vec![PortBinding {
                        host_ip: Some(spec.bind.to_string()),
                        host_port: Some(spec.host_port.to_string()),
                    }]),
                )]
                .into(),
            ),
            binds: Some(vec![format!("{}:{}", spec.volume, spec.volume_target)]),
            restart_policy: spec.restart.as_deref().map(|name| RestartPolicy {
                name: Some(match name {
                    "always" => RestartPolicyNameEnum::ALWAYS,
                    "on-failure" => RestartPolicyNameEnum::ON_FAILURE,
                    "no" => RestartPolicyNameEnum::NO,
                    _ => RestartPolicyNameEnum::UNLESS_STOPPED,
                }),
                maximum_retry_count: None,
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    docker
        .create_container(
            Some(
                CreateContainerOptionsBuilder::new()
                    .name(&spec.container_name)
                    .build(),
            ),
            body,
        )
        .await
        .map_err(crate::engine::refused(format!(
            "create the registry container `{}`",
            spec.container_name
        )))?;
    if let Some(ca) = spec.mirror.as_ref().and_then(|m| m.ca.clone()) {
        let file = crate::engine::ContainerFile {
            path: format!("{MIRROR_CA_DIR}/upstream.pem"),
            bytes: std::sync::Arc::new(ca),
            mode: 0o644,
        };
        if let Err(error) = crate::engine::put_files(docker, &spec.container_name, &[file]).await {
            remove(docker, &spec.container_name).await;
            return Err(error.into());
        }
    }
    if let Err(error) = start(docker, spec).await {
        // Nothing half-done: a container that cannot start is removed again.
        remove(docker, &spec.container_name).await;
        return Err(error);
    }
    Ok(())
}

async fn start(docker: &Docker, spec: &RegistrySpec) -> Result<()> {
    docker
        .start_container(&spec.container_name, None)
        .await
        .map_err(|e| {
            let reason = engine_message(&e);
            if reason.contains("address already in use")
                || reason.contains("port is already allocated")
            {
                Error::PortTaken {
                    bind: spec.bind,
                    port: spec.host_port,
                }
            } else {
                Error::Engine(EngineError::Refused {
                    action: format!("start the registry container `{}`", spec.container_name),
                    source: e.into(),
                })
            }
        })
}

fn check_port_free(bind: IpAddr, port: u16) -> Result<()> {
    match std::net::TcpListener::bind((bind, port)) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => Err(Error::PortTaken { bind, port }),
        // Another error (an address not on this machine): let the engine report it.
        Err(_) => Ok(()),
    }
}

/// Stops and removes the container; with `volume`, its data too. Returns whether there
/// was a container.
///
/// # Errors
/// [`EngineError::Refused`] when the engine refuses to remove the volume.
pub async fn down(docker: &Docker, spec: &RegistrySpec, volume: bool) -> Result<bool> {
    let existed = docker
        .inspect_container(&spec.container_name, None)
        .await
        .is_ok();
    if existed {
        remove(docker, &spec.container_name).await;
    }
    if volume {
        crate::engine::remove_volume(docker, &spec.volume).await?;
    }
    Ok(existed)
}

/// How the registry is: container state, address, whether it answers, what it holds.
///
/// # Errors
/// [`EngineError::Refused`] when the engine cannot be asked.
pub async fn status(docker: &Docker, spec: &RegistrySpec) -> Result<Status> {
    let inspect = match docker.inspect_container(&spec.container_name, None).await {
        Ok(inspect) => Some(inspect),
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => None,
        Err(e) => {
            return Err(Error::Engine(EngineError::Refused {
                action: format!("inspect container `{}`", spec.container_name),
                source: e.into(),
            }));
        }
    };
    let Some(inspect) = inspect else {
        return Ok(Status {
            container: spec.container_name.clone(),
            mirror_of: None,
            image: spec.image.clone(),
            state: "absent".into(),
            published: None,
            answers: false,
            exposed: false,
            repositories: Vec::new(),
            volume: spec.volume.clone(),
        });
    };
    let state = inspect
        .state
        .as_ref()
        .and_then(|s| s.status)
        .map_or("unknown".to_string(), |s| s.to_string());
    let image = inspect
        .config
        .as_ref()
        .and_then(|c| c.image.clone())
        .unwrap_or_else(|| spec.image.clone());
    let bound = published(&inspect, &port_key(spec));
    let exposed = bound
        .as_ref()
        .is_some_and(|(ip, _)| ip.parse::<IpAddr>().map_or(true, |ip| !ip.is_loopback()));
    let probe = bound.as_ref().map(|(ip, port)| {
        let host = match ip.parse::<IpAddr>() {
            Ok(ip) if ip.is_unspecified() => "127.0.0.1".to_string(),
            Ok(IpAddr::V6(ip)) => format!("[{ip}]"),
            _ => ip.clone(),
        };
        format!("{host}:{port}")
    });
    let (answers, repositories) = match &probe {
        Some(address) if state == "running" => match catalog(address).await {
            Ok(repositories) => (true, repositories),
            Err(_) => (false, Vec::new()),
        },
        _ => (false, Vec::new()),
    };
    Ok(Status {
        container: spec.container_name.clone(),
        mirror_of: mirror_of(&inspect),
        image,
        state,
        published: bound.map(|(ip, port)| format!("{ip}:{port}")),
        answers,
        exposed,
        repositories,
        volume: spec.volume.clone(),
    })
}

/// The address to probe the registry on from this machine.
pub fn probe_address(spec: &RegistrySpec) -> String {
    match spec.bind {
        ip if ip.is_unspecified() => format!("127.0.0.1:{}", spec.host_port),
        IpAddr::V6(ip) => format!("[{ip}]:{}", spec.host_port),
        ip => format!("{ip}:{}", spec.host_port),
    }
}

/// Polls the registry at `url` until it answers 200.
///
/// # Errors
/// [`EngineError::NotReady`] after `timeout`.
async fn wait_ready(spec: &RegistrySpec, url: &str, timeout: Duration) -> Result<()> {
    crate::http::wait_until(url, timeout, Duration::from_millis(100), async |response| {
        if response.status().is_success() {
            Ok(())
        } else {
            Err(format!("it answered {}", response.status()))
        }
    })
    .await
    .map_err(|last| {
        Error::Engine(EngineError::NotReady {
            url: url.to_string(),
            seconds: timeout.as_secs(),
            last,
            container: spec.container_name.clone(),
        })
    })
}

/// The repositories a registry at `address` (host:port) holds, over plain HTTP.
///
/// # Errors
/// [`RegistryError::Unreachable`] or [`RegistryError::BadAnswer`].
pub(crate) async fn catalog(address: &str) -> Result<Vec<String>> {
    #[derive(serde::Deserialize)]
    struct Catalog {
        #[serde(default)]
        repositories: Vec<String>,
    }
    let url = format!("http://{address}/v2/_catalog");
    let client = crate::http::plain_client(Duration::from_secs(5));
    let response = client
        .get(&url)
        .send()
        .await
        .map_err(|e| RegistryError::unreachable(address, e.into()))?;
    let catalog: Catalog = response.json().await.map_err(|e| {
        Error::Registry(RegistryError::BadAnswer {
            reference: url.clone(),
            reason: e.to_string(),
        })
    })?;
    Ok(catalog.repositories)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_login_reaches_token_and_basic_upstreams_alike() {
        let mirror = Mirror {
            remote: "https://registry.example.com:5000".into(),
            login: Some(("room".into(), "p@ss:word".into())),
            ca: None,
        };
        let env = mirror.environment();
        assert!(
            env.contains(
                &"REGISTRY_PROXY_REMOTEURL=https://room:p%40ss%3Aword@registry.example.com:5000"
                    .to_string()
            ),
            "{env:?}"
        );
        assert!(env.contains(&"REGISTRY_PROXY_USERNAME=room".to_string()));
        let anonymous = Mirror {
            login: None,
            ..mirror
        };
        assert_eq!(
            anonymous.environment(),
            ["REGISTRY_PROXY_REMOTEURL=https://registry.example.com:5000"]
        );
    }
}
