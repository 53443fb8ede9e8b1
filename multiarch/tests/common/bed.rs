//! The test bed every test against the real engine opens with: it connects (or fails with
//! the fix), gives the test a run id of its own, labels what the test and the CLI it runs
//! create with that id, and removes all of it on drop, also when the test panics.
//!
//! Tests run side by side: each checks only what carries its own label, so a neighbour's
//! containers never fail it. What cannot be labelled (a second engine's bridge, the
//! address range it takes, a folder of the machine's) is a [`Turn`], taken by the tests
//! that use it, one at a time, and held until the bed is dropped.

use std::collections::HashMap;
use std::process::Command;
use std::sync::{Arc, LazyLock, Mutex};

use bollard::Docker;
use multiarch::engine::{self, MANAGED_BY_LABEL};

use super::repo_root;

/// The label that ties a resource to one test's run.
pub const RUN_LABEL: &str = "io.github.multiarch.test-run";

/// What some tests must not use at the same time as others; each is taken by name and
/// held for the length of the test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Turn {
    /// Second engines (`scripts/build-node.sh`, and sshd in front of them): each takes a
    /// bridge and a /24 of 172.30.0.0/16 chosen from its name, and sshd shares the
    /// machine's `/run/sshd`.
    SecondEngines,
}

impl Turn {
    fn lock(self) -> Arc<tokio::sync::Mutex<()>> {
        static TURNS: LazyLock<Mutex<HashMap<Turn, Arc<tokio::sync::Mutex<()>>>>> =
            LazyLock::new(Default::default);
        TURNS.lock().unwrap().entry(self).or_default().clone()
    }
}

pub struct TestBed {
    pub docker: Docker,
    pub run_id: String,
    images: Vec<String>,
    registries: Vec<String>,
    builders: Vec<String>,
    containers: Vec<String>,
    // Held until this bed's clean-up has run (fields drop after `Drop::drop`).
    turns: Vec<tokio::sync::OwnedMutexGuard<()>>,
    // From the moment the test holds its turns; see `record_time`.
    started: std::time::Instant,
}

thread_local! {
    /// The run id of the test on this thread: libtest runs each test on a thread of its
    /// own, and `#[tokio::test]` runs the test's body on it (`block_on`), so the CLI the
    /// test runs is given the test's label without being handed the bed.
    static CURRENT_RUN: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// The run id of the test running on this thread, if it opened a bed.
pub fn current_run() -> Option<String> {
    CURRENT_RUN.with(|run| run.borrow().clone())
}

/// Connects to the engine; one that cannot be reached fails the test with the fix (the
/// test was asked for: it is ignored unless included).
pub async fn testbed() -> TestBed {
    let docker = match engine::connect().await {
        Ok(docker) => docker,
        Err(e) => panic!(
            "this test needs a Docker engine and none can be reached: {e}\nhint: `scripts/test.sh` sets one up (root), or run `sudo scripts/testbed.sh up` first; a plain `cargo test` skips such tests"
        ),
    };
    assert!(
        engine::bridge_present(),
        "the engine's docker0 bridge is missing: restart dockerd (scripts/testbed.sh down && up) before sending traffic to containers"
    );
    super::fixtures::sweep_earlier_runs();
    super::fixtures::begin_costly_fixtures();
    let run_id = format!(
        "{}-{}",
        super::fixtures::process_tag(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
    );
    CURRENT_RUN.with(|run| *run.borrow_mut() = Some(run_id.clone()));
    TestBed {
        docker,
        run_id,
        images: Vec::new(),
        registries: Vec::new(),
        builders: Vec::new(),
        containers: Vec::new(),
        turns: Vec::new(),
        started: std::time::Instant::now(),
    }
}

/// A test bed holding `turn`: no other test that takes it runs meanwhile.
pub async fn testbed_taking(turn: Turn) -> TestBed {
    let guard = turn.lock().lock_owned().await;
    let mut bed = testbed().await;
    bed.turns.push(guard);
    bed
}

/// Appends this test's own time (from its turns held to its clean-up done, a shared
/// fixture it made first included) to the file `MULTIARCH_TEST_TIMES` names, one
/// `SECONDS<TAB>TEST` line: `scripts/test.sh` lists the costliest at the end of a run.
/// libtest names each test's thread for the test.
fn record_time(started: std::time::Instant) {
    use std::io::Write;
    let Some(path) = std::env::var_os("MULTIARCH_TEST_TIMES") else {
        return;
    };
    let name = std::thread::current().name().unwrap_or("?").to_string();
    let line = format!("{:.1}\t{name}\n", started.elapsed().as_secs_f64());
    // One short write with O_APPEND: lines of tests side by side do not interleave.
    if let Ok(mut file) = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
    {
        let _ = file.write_all(line.as_bytes());
    }
}

/// The opening most engine tests share: the test bed, arch-server cross-compiled into
/// `dist/` for amd64 and arm64, and the shared registry (`localhost:PORT`), where the
/// test pushes repositories and tags named for its run.
pub async fn testbed_with_registry() -> (TestBed, String) {
    let bed = testbed().await;
    super::fixtures::dist(&["amd64", "arm64"]).await;
    let registry = super::fixtures::shared_registry().await;
    (bed, registry)
}

impl TestBed {
    /// Labels for everything this test creates.
    pub fn labels(&self) -> HashMap<String, String> {
        HashMap::from([
            (RUN_LABEL.to_string(), self.run_id.clone()),
            (MANAGED_BY_LABEL.to_string(), "multiarch-tests".to_string()),
        ])
    }

    /// `--label KEY=VALUE` for each of [`Self::labels`], for `docker run`.
    pub fn label_args(&self) -> Vec<String> {
        self.labels()
            .into_iter()
            .flat_map(|(k, v)| ["--label".to_string(), format!("{k}={v}")])
            .collect()
    }

    /// Remembers a `multiarch builder` to remove at the end, with its container and its
    /// state volume (the CLI labels them as the kit's, not as this run's).
    pub fn track_builder(&mut self, name: &str) {
        self.builders.push(name.to_string());
    }

    /// Remembers another address of one of this test's registries, so that images pulled
    /// through it are removed at the end too.
    pub fn track_registry_alias(&mut self, address: &str) {
        self.registries.push(address.to_string());
    }

    /// Remembers a container to remove at the end, for one that something other than the
    /// kit under the test's label made (a script run with an environment of its own).
    pub fn track_container(&mut self, name: &str) {
        self.containers.push(name.to_string());
    }

    /// Remembers an image tag to remove at the end.
    pub fn track_image(&mut self, image: &str) {
        self.images.push(image.to_string());
    }

    /// Starts a throw-away `registry:2` of this test's own on a free loopback port;
    /// returns `localhost:PORT`. A test that only pushes and reads repositories named
    /// for itself uses [`super::fixtures::shared_registry`] instead.
    pub async fn start_registry(&mut self) -> String {
        let spec = engine::RunSpec {
            image: "registry:2".into(),
            platform: None,
            container_port: 5000,
            labels: self.labels(),
            cmd: None,
            env: Vec::new(),
            ..Default::default()
        };
        let started = engine::run_published(&self.docker, &spec)
            .await
            .expect("a registry:2 image (scripts/testbed.sh up builds one)");
        let address = format!("localhost:{}", started.host_port);
        super::wait_for_http(&format!("http://{address}/v2/")).await;
        self.registries.push(address.clone());
        address
    }

    /// Runs a command, failing the test with its output when it fails.
    pub fn run(&self, program: &str, args: &[&str]) -> String {
        let output = Command::new(program)
            .args(args)
            .current_dir(repo_root())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "{program} {args:?} failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        stdout
    }

    /// Fails the test when any container of this test matches `filter` (as `docker ps
    /// --filter` takes it: `label=KEY`, `label=KEY=VALUE`, `name=NAME`): what a command
    /// started, it must have removed. Only this test's containers count (the CLI labels
    /// what it starts with the test's run id), so a neighbour's never fail it.
    /// `context` goes into the failure message.
    pub fn assert_no_containers(&self, filter: &str, context: &str) {
        let own = format!("label={RUN_LABEL}={}", self.run_id);
        let left = self.run(
            "docker",
            &["ps", "-aq", "--filter", filter, "--filter", &own],
        );
        assert!(
            left.trim().is_empty(),
            "containers matching {filter} were left: {left}\n{context}"
        );
    }
}

impl Drop for TestBed {
    fn drop(&mut self) {
        CURRENT_RUN.with(|run| *run.borrow_mut() = None);
        // The CLI, synchronously: this runs during unwinding too.
        for builder in &self.builders {
            // buildx's names for a builder's container and volume, and the kit's earlier ones.
            for (container, volume) in [
                (
                    format!("buildx_buildkit_{builder}0"),
                    format!("buildx_buildkit_{builder}0_state"),
                ),
                (
                    format!("multiarch-buildkit-{builder}"),
                    format!("multiarch-buildkit-{builder}-state"),
                ),
            ] {
                docker_quietly(&["rm", "-f", "-v", &container]);
                docker_quietly(&["volume", "rm", "-f", &volume]);
            }
        }
        for container in &self.containers {
            docker_quietly(&["rm", "-f", "-v", container]);
        }
        super::fixtures::remove_labelled(&format!("{RUN_LABEL}={}", self.run_id));
        // Every image pulled from this test's registries, or named for this test (a
        // repository or tag of the shared registry holding its run id).
        let listed = Command::new("docker")
            .args([
                "images",
                "--digests",
                "--format",
                "{{.Repository}}:{{.Tag}}\t{{.Repository}}@{{.Digest}}",
            ])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        for line in listed.lines() {
            let (tagged, by_digest) = line.split_once('\t').unwrap_or((line, line));
            let ours = tagged.contains(&self.run_id)
                || self
                    .registries
                    .iter()
                    .any(|r| tagged.starts_with(&format!("{r}/")));
            if ours {
                let name = if tagged.ends_with(":<none>") {
                    by_digest
                } else {
                    tagged
                };
                self.images.push(name.to_string());
            }
        }
        if !self.images.is_empty() {
            let mut args = vec!["rmi", "-f"];
            args.extend(self.images.iter().map(String::as_str));
            docker_quietly(&args);
        }
        record_time(self.started);
    }
}

/// `docker ARGS`, whatever it answers (clean-up, where a missing thing is fine).
pub fn docker_quietly(args: &[&str]) {
    let _ = Command::new("docker").args(args).output();
}
