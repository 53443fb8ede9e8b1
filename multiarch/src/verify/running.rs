//! The running check: each platform's image pulled by digest, run as [`Emulation`] says
//! (natively, or under QEMU as the CPU its slot promises), and probed over HTTP or by a
//! command; what it answers (or how it ended) is judged against its platform.

use std::collections::HashMap;
use std::time::Duration;

use bollard::Docker;
use bollard::query_parameters::CreateImageOptionsBuilder;
use futures_util::TryStreamExt;
use oci_client::Reference;

use multiarch_platform::Platform;

use super::{Check, Emulation, native_qemu};
use crate::engine::EngineError;
use crate::engine::{self, RunSpec};
use crate::error::Result;

/// How to probe a running container.
#[derive(Debug, Clone)]
pub struct Probe {
    /// The port the server listens on inside the container.
    pub port: u16,
    /// The HTTP path to GET; its answer is `{"architecture": ...}` or a bare machine name.
    pub path: String,
    /// How long to wait for the first answer (emulated start-up is slow).
    pub timeout: Duration,
    /// Instead of asking over HTTP: run this command in the container and check that it
    /// exits 0 (and, when it prints a machine name, that it is the platform's).
    pub exec: Option<Vec<String>>,
}

impl Default for Probe {
    fn default() -> Self {
        Self {
            exec: None,
            port: 80,
            path: "/arch".into(),
            timeout: Duration::from_secs(60),
        }
    }
}

/// Pulls one platform's image by digest, runs it as `emulation` says (under the CPU its
/// slot promises) with its port on loopback, probes it, and removes the container and an
/// image it pulled only for this check again, whatever the outcome.
///
/// # Errors
/// When the engine cannot pull or run it; a wrong answer is a [`Check::Fail`].
pub(crate) async fn check_running(
    docker: &Docker,
    reference: &Reference,
    platform: &Platform,
    digest: &str,
    emulation: &Emulation,
    probe: &Probe,
    labels: HashMap<String, String>,
) -> Result<(Check, Option<String>)> {
    if let (Some(profile), Some(why)) = (emulation.profile, emulation.unmodelled) {
        return Ok((
            Check::Fail(format!("cannot be proven on {profile}: {why}")),
            None,
        ));
    }
    let image = reference.clone_with_digest(digest.to_string()).whole();
    // Leave the engine as it was: an image pulled only for this check goes again.
    let already_there = docker.inspect_image(&image).await.is_ok();
    let spec = RunSpec {
        image: image.clone(),
        platform: Some(platform.clone()),
        container_port: probe.port,
        labels,
        cmd: probe.exec.clone(),
        env: emulation.env(),
        ..Default::default()
    };
    let mut pulls = 0;
    let check = loop {
        pull(docker, reference, &image, platform).await?;
        pulls += 1;
        // Judged apart, so that the image goes again on every path, errors included.
        let check = async {
            let mut spec = spec.clone();
            if emulation.in_container {
                let cpu = emulation.cpu.unwrap_or("max");
                match native_qemu::wrap(docker, &image, platform, cpu, probe.exec.as_deref())
                    .await?
                {
                    Ok(wrapped) => {
                        spec.entrypoint = Some(wrapped.entrypoint);
                        spec.cmd = None;
                        spec.files = vec![wrapped.qemu];
                    }
                    Err(why) => return Ok((Check::Fail(format!("{emulation}: {why}")), None)),
                }
            }
            run_and_judge(docker, &spec, platform, emulation, probe).await
        }
        .await;
        // Another verify of the same image on this engine, which pulled it too and leaves
        // the engine as it found it, may remove it between this pull and this start:
        // it is then pulled once more.
        if !(removed_meanwhile(&check) && pulls == 1) {
            break check;
        }
    };
    if !already_there {
        let options = bollard::query_parameters::RemoveImageOptionsBuilder::new()
            .force(true)
            .build();
        if let Err(e) = docker.remove_image(&image, Some(options), None).await {
            tracing::debug!(%image, error = %e, "could not remove the image pulled for the check");
        }
    }
    check
}

/// Whether a check ended because its image left the engine after it was pulled: the
/// engine's "No such image" when the container was created, or its 404 when the image
/// was inspected for QEMU in the container (`--cpu` on the host's own platform).
fn removed_meanwhile(check: &Result<(Check, Option<String>)>) -> bool {
    match check {
        Ok((Check::Fail(why), _)) => why.contains("No such image"),
        Err(crate::error::Error::Engine(EngineError::Refused { source, .. })) => source
            .downcast_ref::<bollard::errors::Error>()
            .is_some_and(|e| {
                matches!(
                    e,
                    bollard::errors::Error::DockerResponseServerError {
                        status_code: 404,
                        ..
                    }
                )
            }),
        _ => false,
    }
}

/// Pulls `image` (a digest of `reference`) for `platform` into the engine.
async fn pull(
    docker: &Docker,
    reference: &Reference,
    image: &str,
    platform: &Platform,
) -> Result<()> {
    docker
        .create_image(
            Some(
                CreateImageOptionsBuilder::new()
                    .from_image(image)
                    .platform(&platform.to_string())
                    .build(),
            ),
            None,
            crate::registry::engine_credentials(reference),
        )
        .try_collect::<Vec<_>>()
        .await
        .map_err(crate::engine::refused(format!(
            "pull `{image}` for `{platform}`"
        )))?;
    Ok(())
}

/// Runs the pulled image as `spec` says and judges what it answers (or how it ended),
/// with what `--exec`'s command printed when it exited 0.
///
/// # Errors
/// When the engine fails in a way that is not this platform's fault.
async fn run_and_judge(
    docker: &Docker,
    spec: &RunSpec,
    platform: &Platform,
    emulation: &Emulation,
    probe: &Probe,
) -> Result<(Check, Option<String>)> {
    match &probe.exec {
        Some(command) => {
            let ended = engine::run_to_exit(docker, spec, probe.timeout).await;
            let printed = ended
                .as_ref()
                .ok()
                .filter(|e| e.code == 0)
                .map(|e| e.last_lines.join("\n"));
            Ok((judge_exec(command, platform, emulation, ended)?, printed))
        }
        None => {
            // The answer, or the container's end, whichever comes first: a container
            // that is not a server must not be waited for until the timeout.
            let answer = match engine::run_published(docker, spec).await {
                Ok(started) => {
                    let answer = tokio::select! {
                        answer = ask_machine(started.host_port, probe) => Ok(answer),
                        ended = engine::exited(docker, &started.id) => Err(ended),
                    };
                    engine::remove(docker, &started.id).await;
                    answer
                }
                Err(EngineError::ContainerExited {
                    code, last_lines, ..
                }) => Err(Ok(engine::Exited { code, last_lines })),
                // The engine could not start it (a missing loader, say): that is this
                // platform's failure, not the end of the verification.
                Err(EngineError::Refused { source, .. }) => {
                    let check = Check::Fail(format!(
                        "{emulation}: the engine could not start it: {}",
                        crate::cause::root_cause(source.as_ref())
                    ));
                    return Ok((check, None));
                }
                Err(e) => return Err(e.into()),
            };
            Ok((judge_answer(answer, probe, platform, emulation)?, None))
        }
    }
}

fn judge_answer(
    answer: std::result::Result<
        std::result::Result<String, String>,
        Result<engine::Exited, EngineError>,
    >,
    probe: &Probe,
    platform: &Platform,
    how: &Emulation,
) -> Result<Check> {
    Ok(match answer {
        Ok(Err(reason)) => Check::Fail(format!("{how}: {reason}")),
        Ok(Ok(machine)) if how.accepts(platform, &machine) => {
            Check::Pass(format!("{machine} ({how})"))
        }
        Ok(Ok(machine)) => Check::Fail(format!(
            "answered `{machine}` ({how}), expected `{}`",
            platform.machine().unwrap_or("a machine of that platform")
        )),
        Err(ended) => {
            let ended = ended?;
            Check::Fail(format!(
                "{how}: the container exited with code {}{} before answering `{}`; its last lines: {}. Not an HTTP server? `--exec 'CMD'` runs a command in it instead, `--static-only` skips running",
                ended.code,
                signal_note(ended.code, how),
                probe.path,
                last_lines(&ended)
            ))
        }
    })
}

fn judge_exec(
    command: &[String],
    platform: &Platform,
    how: &Emulation,
    ended: Result<engine::Exited, EngineError>,
) -> Result<Check> {
    let ended = ended?;
    // Shown as it would be typed, so a quoted argument reads as one.
    let shown =
        shlex::try_join(command.iter().map(String::as_str)).unwrap_or_else(|_| command.join(" "));
    if ended.code != 0 {
        return Ok(Check::Fail(format!(
            "`{shown}` exited with code {}{} ({how}); its last lines: {}",
            ended.code,
            signal_note(ended.code, how),
            last_lines(&ended)
        )));
    }
    let printed = ended
        .last_lines
        .last()
        .map(|l| l.trim())
        .unwrap_or_default();
    // A command that prints a machine name (`uname -m`) is held to the platform's.
    if Platform::from_machine(printed).is_some() && !how.accepts(platform, printed) {
        return Ok(Check::Fail(format!(
            "`{shown}` printed `{printed}` ({how}), expected `{}`",
            platform.machine().unwrap_or("a machine of that platform")
        )));
    }
    Ok(Check::Pass(format!(
        "`{shown}` exited 0: {printed} ({how})"
    )))
}

/// What an exit code says beyond its number: 132 is SIGILL, the code of a CPU that lacks
/// an instruction (ARMv7 code on an ARMv6 core), named after the CPU it ran on.
fn signal_note(code: i64, how: &Emulation) -> String {
    match (code, how.profile.and(how.cpu_shown())) {
        (132, Some(cpu)) => format!(" (SIGILL: an instruction {cpu} does not have)"),
        (132, None) => " (SIGILL: an instruction this CPU does not have)".into(),
        (137, _) => " (killed)".into(),
        (139, _) => " (SIGSEGV)".into(),
        _ => String::new(),
    }
}

fn last_lines(ended: &engine::Exited) -> String {
    if ended.last_lines.is_empty() {
        "none".into()
    } else {
        ended.last_lines.join(" | ")
    }
}

/// Asks the server on loopback `port` for its machine (`probe.path`, `GET /arch` by
/// default) until it answers or `probe.timeout` passes.
///
/// # Errors
/// What was last seen, for a person to read.
pub async fn ask_machine(port: u16, probe: &Probe) -> std::result::Result<String, String> {
    let url = format!("http://127.0.0.1:{port}{}", probe.path);
    crate::http::wait_until(
        &url,
        probe.timeout,
        Duration::from_millis(250),
        async |response| {
            if !response.status().is_success() {
                return Err(format!("`{url}` answered {}", response.status()));
            }
            let body = response.text().await.map_err(|e| e.to_string())?;
            Ok(machine_from_answer(&body))
        },
    )
    .await
    .map_err(|last| format!("{last} within {} s", probe.timeout.as_secs()))
}

/// The machine name in an answer: `{"architecture": "aarch64"}` or a bare `aarch64`.
pub(crate) fn machine_from_answer(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.get("architecture")
                .and_then(|a| a.as_str())
                .map(String::from)
        })
        .unwrap_or_else(|| body.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_image_removed_by_another_verify_is_told_from_other_failures() {
        let engine_said = |status_code: u16, message: &str| {
            Err(crate::error::Error::Engine(EngineError::Refused {
                action: "inspect `localhost:5000/x@sha256:a`".into(),
                source: bollard::errors::Error::DockerResponseServerError {
                    status_code,
                    message: message.into(),
                }
                .into(),
            }))
        };
        assert!(removed_meanwhile(&engine_said(
            404,
            "No such image: localhost:5000/x@sha256:a"
        )));
        assert!(removed_meanwhile(&Ok((
            Check::Fail("the engine could not start it: No such image: x".into()),
            None
        ))));
        // The engine failing otherwise, or the program failing, is no reason to pull again.
        assert!(!removed_meanwhile(&engine_said(500, "disk full")));
        assert!(!removed_meanwhile(&Ok((
            Check::Fail("exited with 132: SIGILL".into()),
            None
        ))));
    }

    #[test]
    fn answers_are_read_as_json_or_bare_text() {
        assert_eq!(
            machine_from_answer(r#"{"architecture":"aarch64"}"#),
            "aarch64"
        );
        assert_eq!(machine_from_answer("x86_64\n"), "x86_64");
        assert_eq!(machine_from_answer(r#"{"arch":"x"}"#), r#"{"arch":"x"}"#);
    }

    fn exec_check(command: &[&str], platform: &str, code: i64, printed: &str) -> Check {
        let platform: Platform = platform.parse().unwrap();
        let how = Emulation::of(Some(&"linux/amd64".parse().unwrap()), &platform);
        let command: Vec<String> = command.iter().map(|w| w.to_string()).collect();
        let ended = engine::Exited {
            code,
            last_lines: vec![printed.to_string()],
        };
        judge_exec(&command, &platform, &how, Ok(ended)).unwrap()
    }

    #[test]
    fn an_exec_check_shows_its_command_as_typed_and_holds_its_machine_name() {
        assert_eq!(
            exec_check(&["sh", "-c", "uname -m"], "linux/arm64", 0, "aarch64"),
            Check::Pass("`sh -c 'uname -m'` exited 0: aarch64 (emulated)".into())
        );
        assert_eq!(
            exec_check(&["uname", "-m"], "linux/arm64", 0, "x86_64"),
            Check::Fail("`uname -m` printed `x86_64` (emulated), expected `aarch64`".into())
        );
        let Check::Fail(sigill) = exec_check(&["true"], "linux/arm/v6", 132, "") else {
            panic!("exit 132 passed");
        };
        assert!(
            sigill.contains("SIGILL") && sigill.contains("QEMU_CPU=arm1176"),
            "{sigill}"
        );
    }
}
