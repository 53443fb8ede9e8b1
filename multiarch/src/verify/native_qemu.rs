//! The host's own platform on another CPU. binfmt_misc never hands the host's own
//! architecture to QEMU, so to prove amd64 code on a Nehalem on an amd64 host, the
//! running check copies this machine's static QEMU into the container and makes it the
//! entrypoint: `/.multiarch/qemu -cpu Nehalem /app ARGS`. Only the program the
//! container starts runs under QEMU; programs that one starts run natively (QEMU's user
//! mode does not follow `execve`), which the README says.

use std::sync::Arc;

use bollard::Docker;

use multiarch_platform::Platform;

use super::cpu::qemu_architecture;
use crate::engine::ContainerFile;
use crate::error::Result;

/// Where QEMU is put in the container.
const QEMU_IN_CONTAINER: &str = "/.multiarch/qemu";

/// How to start the image's program under QEMU.
#[derive(Debug, Clone)]
pub(crate) struct Wrapped {
    /// QEMU, its CPU, then the image's program and arguments.
    pub entrypoint: Vec<String>,
    /// QEMU itself, to be put into the container.
    pub qemu: ContainerFile,
}

/// The Docker name of the architecture this program (and so the QEMU it finds beside
/// it) runs on.
fn own_architecture() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "x86" => "386",
        "aarch64" => "arm64",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

/// The entrypoint that runs `image`'s program (its entrypoint and command, or `exec`
/// after its entrypoint) as `platform` code on `cpu`, with QEMU from this machine.
///
/// # Errors
/// [`EngineError::Refused`] when the image cannot be inspected; the inner `Err`
/// says, for the report, why this platform cannot be run that way.
pub(crate) async fn wrap(
    docker: &Docker,
    image: &str,
    platform: &Platform,
    cpu: &str,
    exec: Option<&[String]>,
) -> Result<std::result::Result<Wrapped, String>> {
    let inspected = docker
        .inspect_image(image)
        .await
        .map_err(crate::engine::refused(format!("inspect `{image}`")))?;
    let config = inspected.config.unwrap_or_default();
    let mut program = config.entrypoint.unwrap_or_default();
    match exec {
        Some(command) => program.extend(command.iter().cloned()),
        None => program.extend(config.cmd.unwrap_or_default()),
    }
    Ok(plan(program, platform, cpu))
}

fn plan(
    program: Vec<String>,
    platform: &Platform,
    cpu: &str,
) -> std::result::Result<Wrapped, String> {
    let Some(first) = program.first() else {
        return Err("the image has neither an entrypoint nor a command to run".into());
    };
    if !first.starts_with('/') {
        return Err(format!(
            "QEMU in the container needs the program's path, and `{first}` has none; name it, e.g. `--exec '/usr/bin/{first} ...'`"
        ));
    }
    // The QEMU copied in is a program of this machine: it runs only where this one does.
    let host = own_architecture();
    let runs_here = format!("linux/{host}")
        .parse::<Platform>()
        .is_ok_and(|own| crate::engine::host::runs_natively(&own, platform));
    if !runs_here {
        return Err(format!(
            "this machine is {host}: its QEMU cannot be copied to an engine that runs {platform} natively"
        ));
    }
    let Some(emulator) = qemu_architecture(platform.architecture()) else {
        return Err(format!("QEMU has no user-mode emulator for {platform}"));
    };
    let path = find_static_qemu(emulator)?;
    let bytes =
        std::fs::read(&path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    let mut entrypoint = vec![
        QEMU_IN_CONTAINER.to_string(),
        "-cpu".into(),
        cpu.to_string(),
    ];
    entrypoint.extend(program);
    Ok(Wrapped {
        entrypoint,
        qemu: ContainerFile {
            path: QEMU_IN_CONTAINER.into(),
            bytes: Arc::new(bytes),
            mode: 0o755,
        },
    })
}

/// This machine's statically linked QEMU for `emulator` (`x86_64`), on `PATH` as
/// `qemu-ARCH-static`, then `qemu-ARCH`: a dynamically linked one would find none of its
/// libraries in the container.
pub(crate) fn find_static_qemu(emulator: &str) -> std::result::Result<std::path::PathBuf, String> {
    let names = [
        format!("qemu-{emulator}-static"),
        format!("qemu-{emulator}"),
    ];
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dynamic = None;
    for dir in std::env::split_paths(&path) {
        for name in &names {
            let candidate = dir.join(name);
            let Ok(bytes) = std::fs::read(&candidate) else {
                continue;
            };
            match super::elf::interpreter(&bytes) {
                Ok(None) => return Ok(candidate),
                Ok(Some(_)) => dynamic = Some(candidate),
                Err(_) => {}
            }
        }
    }
    Err(match dynamic {
        Some(found) => format!(
            "`{}` is linked dynamically, and the container has none of its libraries; install a static QEMU (Debian: qemu-user-static)",
            found.display()
        ),
        None => format!(
            "no `{}` on PATH; install a static QEMU (Debian: qemu-user-static)",
            names[0]
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &[&str]) -> Vec<String> {
        text.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn a_program_without_a_path_or_no_program_is_said_not_run() {
        let amd64: Platform = "linux/amd64".parse().unwrap();
        let err = plan(words(&["app", "--version"]), &amd64, "Nehalem").unwrap_err();
        assert!(
            err.contains("`app` has none") && err.contains("/usr/bin/app"),
            "{err}"
        );
        let err = plan(Vec::new(), &amd64, "Nehalem").unwrap_err();
        assert!(err.contains("neither an entrypoint nor a command"), "{err}");
    }

    #[test]
    fn qemu_comes_first_then_the_program_as_the_image_runs_it() {
        // Only where this machine has a static QEMU of its own architecture.
        let own: Platform = format!("linux/{}", own_architecture()).parse().unwrap();
        let Some(emulator) = qemu_architecture(own.architecture()) else {
            return;
        };
        if find_static_qemu(emulator).is_err() {
            return;
        }
        let wrapped = plan(words(&["/app", "serve"]), &own, "base").unwrap();
        assert_eq!(
            wrapped.entrypoint,
            ["/.multiarch/qemu", "-cpu", "base", "/app", "serve"]
        );
        assert_eq!(wrapped.qemu.path, "/.multiarch/qemu");
        assert_eq!(wrapped.qemu.mode, 0o755);
    }
}
