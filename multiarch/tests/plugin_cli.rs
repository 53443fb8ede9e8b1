//! Issue #24: the kit as the Docker CLI plugin `docker multiarch`, installed by
//! `multiarch plugin install` and run by the test bed's own Docker CLI.

use crate::common::engine_test;
use std::process::Command;

use crate::common;

#[engine_test]
async fn docker_multiarch_is_the_kit_as_a_docker_cli_plugin() {
    let (mut bed, registry) = common::testbed_with_registry().await;
    let config = tempfile::tempdir().unwrap();
    let config_dir = config.path().to_str().unwrap();
    let (code, installed, stderr) =
        common::multiarch_with(&["plugin", "install"], &[("DOCKER_CONFIG", config_dir)]);
    assert_eq!(code, 0, "{stderr}");
    let plugin = config.path().join("cli-plugins/docker-multiarch");
    assert_eq!(installed.trim(), plugin.display().to_string());
    let docker = |args: &[&str]| {
        common::output(
            Command::new("docker")
                .args(args)
                .env("DOCKER_CONFIG", config.path())
                .env("NO_COLOR", "1")
                .current_dir(common::repo_root()),
        )
    };

    // Docker finds it, reads its metadata, and lists it beside buildx and compose.
    let (code, plugins, stderr) = docker(&["info", "--format", "{{json .ClientInfo.Plugins}}"]);
    assert_eq!(code, 0, "{stderr}");
    let plugins: serde_json::Value = serde_json::from_str(&plugins).unwrap();
    let ours = plugins
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["Name"] == "multiarch")
        .unwrap_or_else(|| panic!("docker lists the plugin: {plugins}"));
    assert_eq!(ours["SchemaVersion"], "0.1.0", "{ours}");
    assert!(ours["Err"].is_null(), "docker took its metadata: {ours}");
    let (code, help, stderr) = docker(&["multiarch", "--help"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(help.contains("Usage: docker multiarch"), "{help}");
    let (code, help, _) = docker(&["--help"]);
    assert_eq!(code, 0);
    assert!(help.contains("multiarch*"), "in docker's own help: {help}");

    // It does the kit's work: inspect and verify an image pushed by the kit.
    let image = format!("{registry}/plugin:{}", bed.run_id);
    let (code, _, stderr) = common::push_dist(&mut bed, &image, "linux/amd64,linux/arm64");
    assert_eq!(code, 0, "{stderr}");
    let (code, inspected, stderr) = docker(&["multiarch", "inspect", &image]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        inspected.contains("linux/amd64") && inspected.contains("linux/arm64"),
        "{inspected}"
    );
    let (code, verified, stderr) = docker(&["multiarch", "verify", &image]);
    assert_eq!(code, 0, "{verified}\n{stderr}");
    assert!(verified.contains("linux/arm64  PASS"), "{verified}");
    // An error names the command as it was typed.
    let (code, _, stderr) = docker(&["multiarch", "verify"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("Usage: docker multiarch verify"),
        "{stderr}"
    );
}
