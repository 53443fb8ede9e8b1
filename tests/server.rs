//! `arch-server` over real sockets: the library on port 0, and the binary as a
//! container runs it (start, serve, SIGTERM with a request in flight, exit 0).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use arch_server::app::AppState;
use arch_server::config::{ServerFlags, Settings};
use arch_server::machine::MachineInfo;

/// One HTTP/1.1 exchange on a fresh connection; returns (status, body).
fn http(addr: SocketAddr, request: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    read_response(&mut stream)
}

fn read_response(stream: &mut TcpStream) -> (u16, String) {
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let body = text
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_string();
    (status, body)
}

fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    http(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_arch_over_a_real_socket_on_port_zero() {
    let flags = ServerFlags {
        port: Some(0),
        ..Default::default()
    };
    let settings = Settings::resolve(&flags, |_| None).unwrap();
    let listener = arch_server::serve::bind(&settings).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let state = AppState::new(MachineInfo::detect());
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        arch_server::serve::serve(listener, state, &settings, async {
            let _ = stop_rx.await;
        })
        .await
    });

    let (status, body) = tokio::task::spawn_blocking(move || get(addr, "/arch"))
        .await
        .unwrap();
    assert_eq!(status, 200);
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    let machine = rustix::system::uname()
        .machine()
        .to_string_lossy()
        .into_owned();
    assert_eq!(json["architecture"], machine.as_str());

    stop_tx.send(()).unwrap();
    assert!(server.await.unwrap().unwrap(), "drained within the timeout");
}

/// The binary, started with `--port 0`; its stderr tells where it listens.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    fn start(args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_arch-server"))
            .args(["--port", "0"])
            .args(args)
            .envs(env.iter().copied())
            .env("NO_COLOR", "1")
            .env_remove("PORT")
            .env_remove("HOST")
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let addr = loop {
            let line = lines
                .next()
                .expect("the server printed where it listens")
                .unwrap();
            if let Some(url) = line.split("url=http://").nth(1) {
                break url.split_whitespace().next().unwrap().parse().unwrap();
            }
        };
        // Keep draining stderr so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Self { child, addr }
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([format!("-{signal}"), self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    fn wait(&mut self, limit: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "the server did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn sigterm_lets_the_request_in_flight_finish_then_exits_zero() {
    let mut server = Server::start(&[], &[]);

    // A request whose body is only half sent: it is in flight when SIGTERM arrives.
    let body = r#"{"value": 41}"#;
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "POST /increment HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
        body.len(),
        &body[..5]
    )
    .unwrap();
    stream.flush().unwrap();
    std::thread::sleep(Duration::from_millis(200));

    server.signal("TERM");
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "still running while the request is in flight"
    );
    // New connections are no longer accepted once draining has begun.
    assert_eq!(
        get_or_fail(server.addr),
        None,
        "no new requests are served while draining"
    );

    stream.write_all(&body.as_bytes()[5..]).unwrap();
    let (status, answer) = read_response(&mut stream);
    assert_eq!(status, 200);
    assert_eq!(answer, r#"{"value":42}"#);

    let exit = server.wait(Duration::from_secs(5));
    assert_eq!(exit.code(), Some(0), "exits 0 after draining");
}

/// A GET that reports failure instead of panicking.
fn get_or_fail(addr: SocketAddr) -> Option<u16> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    text.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn an_idle_server_stops_at_sigint_at_once() {
    let mut server = Server::start(&[], &[]);
    assert_eq!(get(server.addr, "/healthz").0, 200);
    server.signal("INT");
    let exit = server.wait(Duration::from_secs(8));
    assert_eq!(exit.code(), Some(0), "stopped by its own handler");
}

#[test]
fn the_drain_timeout_ends_a_stuck_request() {
    let mut server = Server::start(&["--drain-timeout", "300ms"], &[]);
    let mut stream = TcpStream::connect(server.addr).unwrap();
    // Headers promise a body that never comes.
    stream
        .write_all(b"POST /increment HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    server.signal("TERM");
    let exit = server.wait(Duration::from_secs(5));
    assert_eq!(exit.code(), Some(0));
}

#[test]
fn warm_up_delays_readiness_from_the_environment() {
    let server = Server::start(&[], &[("WARMUP", "1s")]);
    assert_eq!(get(server.addr, "/readyz").0, 503);
    assert_eq!(get(server.addr, "/healthz").0, 200);
    let deadline = Instant::now() + Duration::from_secs(10);
    while get(server.addr, "/readyz").0 != 200 {
        assert!(Instant::now() < deadline, "never became ready");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn healthcheck_subcommand_reports_the_server_state() {
    let server = Server::start(&[], &[]);
    let port = server.addr.port().to_string();
    let ok = Command::new(env!("CARGO_BIN_EXE_arch-server"))
        .args(["healthcheck", "--port", &port])
        .output()
        .unwrap();
    assert!(ok.status.success(), "{ok:?}");
    drop(server);

    let down = Command::new(env!("CARGO_BIN_EXE_arch-server"))
        .args(["healthcheck", "--port", &port, "--timeout", "1s"])
        .output()
        .unwrap();
    assert_eq!(down.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&down.stderr);
    assert!(stderr.contains("unhealthy:"), "{stderr}");
}

#[rstest::rstest]
#[case::port_out_of_range(&["--port", "99999"], &[], "invalid value '99999' for '--port <PORT>'")]
#[case::port_env_not_a_number(&[], &[("PORT", "eighty")], "environment variable `PORT` is `eighty`")]
#[case::missing_config(&["--config", "/nonexistent.toml"], &[], "cannot read config file `/nonexistent.toml`")]
#[case::host_not_an_ip(&["--host", "nowhere"], &[], "invalid value 'nowhere' for '--host <HOST>'")]
fn bad_configuration_is_a_clear_error_and_a_failing_exit(
    #[case] args: &[&str],
    #[case] env: &[(&str, &str)],
    #[case] message: &str,
) {
    let output = Command::new(env!("CARGO_BIN_EXE_arch-server"))
        .args(args)
        .envs(env.iter().copied())
        .env_remove("HOST")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_ne!(output.status.code(), Some(0), "{args:?} {env:?}");
    assert!(stderr.contains(message), "{args:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn a_taken_port_is_named() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let output = Command::new(env!("CARGO_BIN_EXE_arch-server"))
        .args(["--port", &port, "--host", "127.0.0.1"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr.contains(&format!("error: cannot listen on `127.0.0.1:{port}`")),
        "{stderr}"
    );
    assert!(stderr.contains("hint:"), "{stderr}");
}
