//! A room's registry (issue #24): `registry up --mirror` runs the local registry as a
//! pull-through cache of an upstream, here a TLS registry with a password that the test
//! makes, holding `library/busybox`. A second engine started with the mirror as its
//! `registry-mirrors` pulls `busybox` through it, and again once the upstream is gone.

use crate::common::engine_test;
use std::path::Path;
use std::process::Command;

use crate::common;
use crate::common::{SecondNode, Turn};

const USER: &str = "room";
const PASSWORD: &str = "pull-through-secret";

/// The engine's bridge address (docker0's, `172.17.0.1`): on this machine, and reachable
/// from containers, where `127.0.0.1` is each container's own.
fn bridge_gateway(bed: &common::TestBed) -> String {
    bed.run(
        "docker",
        &[
            "network",
            "inspect",
            "bridge",
            "-f",
            "{{(index .IPAM.Config 0).Gateway}}",
        ],
    )
    .trim()
    .to_string()
}

/// The upstream: `registry:2` behind TLS (the certificates in `certs`) with one user,
/// published on `address`.
fn start_upstream(bed: &common::TestBed, dir: &Path, certs: &Path, address: &str) -> String {
    let auth = dir.join("auth");
    std::fs::create_dir_all(&auth).unwrap();
    let hash = bcrypt::hash(PASSWORD, 5).unwrap();
    std::fs::write(auth.join("htpasswd"), format!("{USER}:{hash}\n")).unwrap();
    let name = format!("multiarch-upstream-{}", bed.run_id);
    let mut args = vec![
        "run".to_string(),
        "-d".into(),
        "--name".into(),
        name.clone(),
        "-p".into(),
        format!("{address}:5000"),
        "-v".into(),
        format!("{}:/certs:ro", certs.display()),
        "-v".into(),
        format!("{}:/auth:ro", auth.display()),
    ];
    for env in [
        "REGISTRY_HTTP_TLS_CERTIFICATE=/certs/server-cert.pem",
        "REGISTRY_HTTP_TLS_KEY=/certs/server-key.pem",
        "REGISTRY_AUTH=htpasswd",
        "REGISTRY_AUTH_HTPASSWD_REALM=upstream",
        "REGISTRY_AUTH_HTPASSWD_PATH=/auth/htpasswd",
    ] {
        args.extend(["-e".to_string(), env.to_string()]);
    }
    for (k, v) in bed.labels() {
        args.extend(["--label".to_string(), format!("{k}={v}")]);
    }
    args.push("registry:2".into());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    bed.run("docker", &args);
    name
}

async fn wait_for_port(host: &str, port: u16) {
    for _ in 0..100 {
        if tokio::net::TcpStream::connect((host, port)).await.is_ok() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("nothing listens on port {port}");
}

/// `docker` against the second engine, over its TLS port.
fn on_node(port: u16, certs: &Path, args: &[&str]) -> (bool, String) {
    let output = Command::new("docker")
        .args(["--host", &format!("tcp://127.0.0.1:{port}"), "--tlsverify"])
        .args(args)
        .env("DOCKER_CERT_PATH", certs)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[engine_test]
async fn a_mirror_serves_a_room_and_keeps_serving_when_the_upstream_is_gone() {
    let mut bed = common::testbed_taking(Turn::SecondEngines).await;
    let scratch = tempfile::tempdir().unwrap();
    let certs = scratch.path().join("certs");
    let gateway = bridge_gateway(&bed);
    bed.run(
        "scripts/build-node.sh",
        &["certs", certs.to_str().unwrap(), &format!("IP:{gateway}")],
    );

    // busybox for two platforms, pushed to the upstream as Docker Hub holds it.
    let staging = bed.start_registry().await;
    let context = tempfile::tempdir().unwrap();
    for arch in ["amd64", "arm64"] {
        std::fs::create_dir_all(context.path().join(arch)).unwrap();
        std::fs::copy(
            common::busybox(arch),
            context.path().join(arch).join("busybox"),
        )
        .unwrap();
    }
    std::fs::write(
        context.path().join("Dockerfile"),
        "FROM scratch\nARG TARGETARCH\nCOPY ${TARGETARCH}/busybox /bin/busybox\nENTRYPOINT [\"/bin/busybox\"]\n",
    )
    .unwrap();
    let staged = format!("{staging}/busybox:{}", bed.run_id);
    common::buildx_push(
        &mut bed,
        &staged,
        "linux/amd64,linux/arm64",
        &[],
        context.path().to_str().unwrap(),
    );
    // The mirror's container reaches the upstream at the bridge's address.
    let upstream_port = common::free_port();
    let upstream_address = format!("{gateway}:{upstream_port}");
    let upstream = start_upstream(&bed, scratch.path(), &certs, &upstream_address);
    wait_for_port(&gateway, upstream_port).await;
    let docker_config = scratch.path().join("docker-config");
    std::fs::create_dir_all(&docker_config).unwrap();
    std::fs::write(
        docker_config.join("config.json"),
        format!(
            "{{\"auths\":{{\"{upstream_address}\":{{\"auth\":\"{}\"}}}}}}",
            base64_login()
        ),
    )
    .unwrap();
    let copied = Command::new("crane")
        .args([
            "copy",
            "--insecure",
            &staged,
            &format!("{upstream_address}/library/busybox:latest"),
        ])
        .env("DOCKER_CONFIG", &docker_config)
        .output()
        .unwrap();
    assert!(
        copied.status.success(),
        "{}",
        String::from_utf8_lossy(&copied.stderr)
    );

    // The mirror: the kit's registry, from a compose file of this run's own.
    let mirror_port = common::free_port();
    let mirror_name = format!("multiarch-registry-test-{}", bed.run_id);
    let compose_file = common::registry_file(&bed, mirror_port);
    let compose = compose_file.path().to_str().unwrap();
    let upstream_url = format!("https://{upstream_address}");
    let ca = certs.join("ca.pem");
    let (code, stdout, stderr) = common::multiarch_with(
        &[
            "registry",
            "--file",
            compose,
            "up",
            "--mirror",
            &upstream_url,
            "--mirror-username",
            USER,
            "--mirror-ca",
            ca.to_str().unwrap(),
        ],
        &[("MULTIARCH_MIRROR_PASSWORD", PASSWORD)],
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let daemon_line = format!("\"registry-mirrors\": [\"http://localhost:{mirror_port}\"]");
    assert!(stderr.contains(&daemon_line), "{stderr}");
    assert!(
        !stdout.contains(PASSWORD) && !stderr.contains(PASSWORD),
        "the password is never printed"
    );
    // The same command without --mirror is refused: it would be another registry.
    let (code, _, stderr) = common::multiarch(&["registry", "--file", compose, "up"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains(&format!("a mirror of {upstream_url}")),
        "{stderr}"
    );

    // A second engine pulls through it.
    let node_port = common::free_port();
    let mirror_url = format!("http://127.0.0.1:{mirror_port}");
    let _node = SecondNode::up(&bed, "mt-room", node_port, &certs, Some(&mirror_url));
    let (pulled, text) = on_node(node_port, &certs, &["pull", "busybox"]);
    assert!(pulled, "the pull through the mirror failed: {text}");
    let (ran, text) = on_node(
        node_port,
        &certs,
        &["run", "--rm", "busybox", "echo", "from the room"],
    );
    assert!(ran && text.contains("from the room"), "{text}");

    let (code, status, stderr) = common::multiarch(&["registry", "--file", compose, "status"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        status.contains(&format!("mirrors:      {upstream_url}")),
        "{status}"
    );
    assert!(status.contains("library/busybox"), "{status}");
    let (_, doctor, _) =
        common::multiarch(&["doctor", "--registry", &format!("localhost:{mirror_port}")]);
    assert!(
        doctor.contains(&format!("mirrors {upstream_url}: a pull-through cache")),
        "{doctor}"
    );

    // The upstream goes away; the room still pulls, from the mirror's cache.
    bed.run("docker", &["rm", "-f", "-v", &upstream]);
    let (removed, text) = on_node(node_port, &certs, &["rmi", "busybox"]);
    assert!(removed, "{text}");
    let (pulled, text) = on_node(node_port, &certs, &["pull", "busybox"]);
    assert!(
        pulled,
        "the mirror did not serve its cache with the upstream gone: {text}"
    );

    let _ = Command::new("docker")
        .args(["rm", "-f", "-v", &mirror_name])
        .output();
}

/// `user:password` as Docker's config keeps it.
fn base64_login() -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"))
}
