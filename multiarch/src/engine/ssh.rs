//! An engine reached over SSH, as `DOCKER_HOST=ssh://user@host` reaches one: the OpenSSH
//! client runs `docker system dial-stdio` on the far side, and its stdin and stdout carry
//! the engine's API. The user's own `ssh` does the work (keys, agent, `~/.ssh/config`),
//! with two things fixed on its command line, where they win over any config: no prompt
//! (`BatchMode=yes`), and host keys checked strictly (`StrictHostKeyChecking=yes`), so an
//! unknown or changed host key is refused, never accepted on the way.
//!
//! `MULTIARCH_SSH_COMMAND` replaces `ssh` with another command line, as `GIT_SSH_COMMAND`
//! does for git (`ssh -F ./ssh_config`, say).

use std::pin::Pin;
use std::process::Stdio;
use std::task::{Context, Poll};

use crate::stdio::StdioStream;

/// How long the first question may take, connection and login included.
const CHECK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// The environment variable that replaces the `ssh` command line.
pub const SSH_COMMAND_ENV: &str = "MULTIARCH_SSH_COMMAND";

/// `ssh://[user@]host[:port]`, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshDestination {
    /// The login, when given.
    pub user: Option<String>,
    /// The host name or address (an IPv6 address without its brackets).
    pub host: String,
    /// The port, when not ssh's default.
    pub port: Option<u16>,
}

/// Why ssh could not reach the engine, in words a fix can be chosen by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SshProblem {
    /// The host's key is not in known_hosts.
    UnknownHostKey,
    /// The host's key is not the one known_hosts holds for it.
    ChangedHostKey,
    /// The host refused every key (or password) offered.
    NotAllowed,
    /// The host does not answer on that port.
    NoAnswer,
    /// The far side has no `docker` to run.
    NoDocker,
    /// Anything else: ssh's own last words.
    Other,
}

impl SshDestination {
    /// Reads `ssh://[user@]host[:port]`; Docker's form, without a path.
    ///
    /// # Errors
    /// What is wrong with it, in a sentence.
    pub fn parse(url: &str) -> Result<Self, String> {
        let rest = url
            .strip_prefix("ssh://")
            .ok_or_else(|| "an SSH engine is named `ssh://[user@]host[:port]`".to_string())?;
        if rest.contains('/') {
            return Err("an SSH engine's address has no path: `ssh://user@host:22`".into());
        }
        let (user, host_port) = match rest.rsplit_once('@') {
            Some((user, host)) if !user.is_empty() => (Some(user.to_string()), host),
            Some(_) => return Err("the user before `@` is empty".into()),
            None => (None, rest),
        };
        let (host, port) = if let Some(bracketed) = host_port.strip_prefix('[') {
            let (host, after) = bracketed
                .split_once(']')
                .ok_or_else(|| "an IPv6 address needs its closing `]`".to_string())?;
            (host, after.strip_prefix(':'))
        } else {
            match host_port.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (host_port, None),
            }
        };
        if host.is_empty() {
            return Err("the host is empty: `ssh://user@host`".into());
        }
        if host.starts_with('-') {
            return Err("a host cannot start with `-`".into());
        }
        let port = port
            .map(|p| {
                p.parse::<u16>()
                    .ok()
                    .filter(|p| *p > 0)
                    .ok_or_else(|| format!("`{p}` is not a port"))
            })
            .transpose()?;
        Ok(Self {
            user,
            host: host.to_string(),
            port,
        })
    }

    /// `user@host` (or `host`) as ssh takes it.
    fn login(&self) -> String {
        match &self.user {
            Some(user) => format!("{user}@{}", self.host),
            None => self.host.clone(),
        }
    }

    /// The command line that runs `remote` on the host: the ssh command (or
    /// `$MULTIARCH_SSH_COMMAND`), the fixed options, the port, then the destination.
    ///
    /// # Errors
    /// `$MULTIARCH_SSH_COMMAND` does not split as a shell would.
    pub fn command_line(&self, ssh: Option<&str>, remote: &[&str]) -> Result<Vec<String>, String> {
        let mut line = match ssh {
            Some(command) => shlex::split(command)
                .filter(|words| !words.is_empty())
                .ok_or_else(|| format!("{SSH_COMMAND_ENV} `{command}` is not a command line"))?,
            None => vec!["ssh".to_string()],
        };
        for option in [
            "BatchMode=yes",
            "StrictHostKeyChecking=yes",
            "ConnectTimeout=10",
        ] {
            line.extend(["-o".to_string(), option.to_string()]);
        }
        line.push("-T".into());
        if let Some(port) = self.port {
            line.extend(["-p".to_string(), port.to_string()]);
        }
        line.push("--".into());
        line.push(self.login());
        line.extend(remote.iter().map(|word| word.to_string()));
        Ok(line)
    }

    fn command(&self, remote: &[&str]) -> std::io::Result<tokio::process::Command> {
        let ssh = std::env::var(SSH_COMMAND_ENV).ok();
        let line = self
            .command_line(ssh.as_deref(), remote)
            .map_err(std::io::Error::other)?;
        let mut command = tokio::process::Command::new(&line[0]);
        command.args(&line[1..]).kill_on_drop(true);
        Ok(command)
    }

    /// Asks the host once, before anything is sent, so that a refusal is named: runs
    /// `docker system dial-stdio` with nothing to carry, which ends as soon as it starts.
    ///
    /// # Errors
    /// Why not, and ssh's last line.
    pub async fn check(&self) -> Result<(), (SshProblem, String)> {
        let asked = self
            .command(&["docker", "system", "dial-stdio"])
            .map_err(|e| (SshProblem::Other, e.to_string()))?
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output();
        let output = tokio::time::timeout(CHECK_TIMEOUT, asked)
            .await
            .map_err(|_| {
                let seconds = CHECK_TIMEOUT.as_secs();
                (
                    SshProblem::NoAnswer,
                    format!("no answer within {seconds} s"),
                )
            })?
            .map_err(|e| (SshProblem::Other, format!("cannot run ssh: {e}")))?;
        if output.status.success() {
            return Ok(());
        }
        let said = String::from_utf8_lossy(&output.stderr);
        Err(classify(&said))
    }

    /// Opens one connection to the engine.
    ///
    /// # Errors
    /// ssh cannot be started.
    pub async fn dial(&self) -> std::io::Result<StdioStream> {
        StdioStream::spawn(self.command(&["docker", "system", "dial-stdio"])?)
    }
}

impl std::fmt::Display for SshDestination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        match (&self.user, self.port) {
            (Some(user), Some(port)) => write!(f, "ssh://{user}@{host}:{port}"),
            (Some(user), None) => write!(f, "ssh://{user}@{host}"),
            (None, Some(port)) => write!(f, "ssh://{host}:{port}"),
            (None, None) => write!(f, "ssh://{host}"),
        }
    }
}

/// What ssh's words on stderr mean; the last non-empty line is kept as the reason.
fn classify(said: &str) -> (SshProblem, String) {
    let last = said
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .unwrap_or("ssh failed without a word")
        .to_string();
    let problem = if said.contains("REMOTE HOST IDENTIFICATION HAS CHANGED") {
        SshProblem::ChangedHostKey
    } else if said.contains("Host key verification failed")
        || said.contains("No ED25519 host key is known")
        || said.contains("host key is known for")
    {
        SshProblem::UnknownHostKey
    } else if said.contains("Permission denied") {
        SshProblem::NotAllowed
    } else if said.contains("Connection refused")
        || said.contains("Connection timed out")
        || said.contains("No route to host")
        || said.contains("Could not resolve hostname")
    {
        SshProblem::NoAnswer
    } else if said.contains("docker: command not found") || said.contains("docker: not found") {
        SshProblem::NoDocker
    } else {
        SshProblem::Other
    };
    (problem, last)
}

/// hyper's pooled client over connections that each run their own ssh, for bollard's
/// custom transport: idle connections are kept, so a command's requests share a few.
pub(crate) fn client<B>(
    destination: SshDestination,
) -> hyper_util::client::legacy::Client<Connector, B>
where
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
{
    hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build(Connector(destination))
}

/// Dials the destination for any URI: the engine is wherever ssh reaches.
#[derive(Clone)]
pub(crate) struct Connector(SshDestination);

impl tower::Service<hyper::Uri> for Connector {
    type Response = Pooled;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn std::future::Future<Output = std::io::Result<Pooled>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: hyper::Uri) -> Self::Future {
        let destination = self.0.clone();
        Box::pin(async move {
            Ok(Pooled(hyper_util::rt::TokioIo::new(
                destination.dial().await?,
            )))
        })
    }
}

/// One ssh connection as hyper's client pools it.
pub(crate) struct Pooled(hyper_util::rt::TokioIo<StdioStream>);

impl hyper_util::client::legacy::connect::Connection for Pooled {
    fn connected(&self) -> hyper_util::client::legacy::connect::Connected {
        hyper_util::client::legacy::connect::Connected::new()
    }
}

impl hyper::rt::Read for Pooled {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for Pooled {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("ssh://host", None, "host", None)]
    #[case("ssh://me@host", Some("me"), "host", None)]
    #[case("ssh://me@10.0.0.5:2222", Some("me"), "10.0.0.5", Some(2222))]
    #[case("ssh://root@[::1]:2222", Some("root"), "::1", Some(2222))]
    #[case("ssh://[fe80::1]", None, "fe80::1", None)]
    fn destinations_read_as_docker_writes_them(
        #[case] url: &str,
        #[case] user: Option<&str>,
        #[case] host: &str,
        #[case] port: Option<u16>,
    ) {
        let read = SshDestination::parse(url).unwrap();
        assert_eq!(read.user.as_deref(), user);
        assert_eq!(read.host, host);
        assert_eq!(read.port, port);
        assert_eq!(read.to_string(), url, "written back as given");
    }

    #[rstest]
    #[case("ssh://", "the host is empty")]
    #[case("ssh://me@", "the host is empty")]
    #[case("ssh://@host", "the user before `@` is empty")]
    #[case("ssh://host:0", "`0` is not a port")]
    #[case("ssh://host:ssh", "`ssh` is not a port")]
    #[case("ssh://host/var/run/docker.sock", "has no path")]
    #[case("ssh://-oProxyCommand=x", "cannot start with `-`")]
    #[case("ssh://[::1:22", "closing `]`")]
    fn bad_destinations_say_what_is_wrong(#[case] url: &str, #[case] words: &str) {
        let error = SshDestination::parse(url).unwrap_err();
        assert!(error.contains(words), "{url}: {error}");
    }

    #[test]
    fn the_command_line_checks_host_keys_strictly_and_never_prompts() {
        let destination = SshDestination::parse("ssh://me@host:2222").unwrap();
        let line = destination
            .command_line(None, &["docker", "system", "dial-stdio"])
            .unwrap();
        assert_eq!(
            line.join(" "),
            "ssh -o BatchMode=yes -o StrictHostKeyChecking=yes -o ConnectTimeout=10 -T -p 2222 -- me@host docker system dial-stdio"
        );
        let line = destination
            .command_line(Some("ssh -F '/tmp/my config'"), &["true"])
            .unwrap();
        assert_eq!(&line[..3], ["ssh", "-F", "/tmp/my config"]);
        assert!(line.contains(&"StrictHostKeyChecking=yes".to_string()));
        assert!(destination.command_line(Some("ssh 'x"), &[]).is_err());
        assert!(destination.command_line(Some("  "), &[]).is_err());
    }

    #[rstest]
    #[case("Host key verification failed.\r\n", SshProblem::UnknownHostKey)]
    #[case(
        "@@@@@\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\nHost key verification failed.\n",
        SshProblem::ChangedHostKey
    )]
    #[case(
        "root@127.0.0.1: Permission denied (publickey).\n",
        SshProblem::NotAllowed
    )]
    #[case(
        "ssh: connect to host 127.0.0.1 port 2222: Connection refused\n",
        SshProblem::NoAnswer
    )]
    #[case("bash: line 1: docker: command not found\n", SshProblem::NoDocker)]
    #[case(
        "kex_exchange_identification: read: Connection reset by peer\n",
        SshProblem::Other
    )]
    fn ssh_refusals_are_told_apart(#[case] said: &str, #[case] problem: SshProblem) {
        let (found, last) = classify(said);
        assert_eq!(found, problem, "{said}");
        assert!(!last.is_empty() && said.contains(&last), "{last}");
    }
}
