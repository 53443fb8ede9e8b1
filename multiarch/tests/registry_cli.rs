//! `multiarch registry` against the real engine (issue #4): lifecycle, idempotency,
//! a taken port, and data that survives `down`.

use crate::common;
use crate::common::engine_test;

use std::io::Write;

#[engine_test]
async fn registry_lifecycle_is_idempotent_and_keeps_its_data() {
    let mut bed = common::testbed().await;
    let port = common::free_port();
    let name = format!("multiarch-registry-test-{}", bed.run_id);
    let volume = format!("multiarch-registry-test-data-{}", bed.run_id);
    let mut file = tempfile::NamedTempFile::new().unwrap();
    write!(
        file,
        "services:\n  registry:\n    image: registry:2\n    container_name: {name}\n    ports: [\"127.0.0.1:{port}:5000\"]\n    volumes: [\"data:/var/lib/registry\"]\n    labels:\n      {}: \"{}\"\nvolumes:\n  data:\n    name: {volume}\n",
        common::RUN_LABEL,
        bed.run_id
    )
    .unwrap();
    let path = file.path().to_str().unwrap().to_string();
    let registry = |args: &[&str]| {
        let mut all = vec!["registry", "-f", path.as_str()];
        all.extend_from_slice(args);
        common::multiarch(&all)
    };

    // Absent: status says so and fails.
    let (code, stdout, _) = registry(&["status"]);
    assert_eq!(code, 3);
    assert!(stdout.contains("state:        absent"), "{stdout}");

    // Up, then up again: one container, reused.
    let (code, stdout, stderr) = registry(&["up"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout.trim(), format!("localhost:{port}"));
    assert!(stderr.contains("started:"), "{stderr}");
    let (code, _, stderr) = registry(&["up"]);
    assert_eq!(code, 0);
    assert!(stderr.contains("already running"), "{stderr}");

    // Push something so there is data to keep.
    let image = format!("localhost:{port}/kept:1");
    bed.track_image(&image);
    bed.run("docker", &["tag", "registry:2", &image]);
    bed.run("docker", &["push", "--quiet", &image]);
    let (code, stdout, _) = registry(&["status"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("answers:      yes"), "{stdout}");
    assert!(stdout.contains("repositories: kept"), "{stdout}");
    assert!(
        stdout.contains(&format!("published:    127.0.0.1:{port}")),
        "{stdout}"
    );

    // Stopped by someone else: up starts it again.
    bed.run("docker", &["stop", &name]);
    let (code, _, stderr) = registry(&["up"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("started again"), "{stderr}");

    // Down keeps the volume; up again still holds the image.
    let (code, _, stderr) = registry(&["down"]);
    assert_eq!(code, 0);
    assert!(stderr.contains("kept"), "{stderr}");
    bed.run("docker", &["volume", "inspect", &volume]);
    let (code, _, _) = registry(&["up"]);
    assert_eq!(code, 0);
    let (_, stdout, _) = registry(&["status"]);
    assert!(
        stdout.contains("repositories: kept"),
        "data survived down/up: {stdout}"
    );

    // A port taken by another program is named, and nothing is left half-made.
    let (code, _, _) = registry(&["down", "--volumes"]);
    assert_eq!(code, 0);
    let taken = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    let (code, _, stderr) = registry(&["up"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains(&format!(
            "error: port {port} on 127.0.0.1 is already in use by another program"
        )),
        "{stderr}"
    );
    assert!(stderr.contains("hint: choose another port"), "{stderr}");
    drop(taken);
    bed.assert_no_containers(&format!("name={name}"), "after a failed `registry up`");
    let (code, _, _) = registry(&["down", "--volumes"]);
    assert_eq!(code, 0);
    let volumes = bed.run(
        "docker",
        &["volume", "ls", "-q", "--filter", &format!("name={volume}")],
    );
    assert!(volumes.trim().is_empty(), "down --volumes removed the data");
}
