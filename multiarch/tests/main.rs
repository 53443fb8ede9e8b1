//! Every integration test of `multiarch`, in one binary, as ripgrep gathers its own:
//! the shared helpers (`common`) compile once and the library links once, not once per
//! file. Tests that use the engine start with `common::testbed()` and run side by side:
//! each checks only what carries its own label, shares what it only reads (a registry,
//! `dist/`, the eight-platform image), and takes a named turn for what cannot be labelled
//! (second engines).

mod common;

mod audit_cli;
mod bad_input;
mod build_demo_cli;
mod buildx_builders_cli;
mod container_builder_cli;
mod copy_cli;
mod cpu_profiles_cli;
mod credentials_cli;
mod docker_alone_cli;
mod docs;
mod errors_cli;
mod faults_cli;
mod fleet_cli;
mod image_e2e;
mod install_cli;
mod interrupt_cli;
mod manifest_pull_cli;
mod mirror_cli;
mod nodes_cli;
mod parity_cli;
mod plugin_cli;
mod preflight_cli;
mod registry_cli;
mod registry_faults_cli;
mod release_assets_cli;
mod release_cli;
mod release_gate_cli;
mod seven_platforms_cli;
mod shell_cli;
mod signatures_cli;
mod ssh_nodes_cli;
mod userland_cli;
mod verify_cli;
