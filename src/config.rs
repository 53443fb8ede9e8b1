//! Where the server listens and how it behaves, from three sources.
//!
//! A flag beats an environment variable, which beats the TOML file given with
//! `--config`, which beats the default. This is the order the Go proxy demo uses
//! (`PORT=8084` with `--port 8090` listens on 8090), and the one containers need: the
//! image sets `PORT=80`, and `docker run IMAGE --port 8080` still wins.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// The port used when nothing else says one.
pub const DEFAULT_PORT: u16 = 8080;
/// The address used when nothing else says one: only this machine.
pub const DEFAULT_HOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
/// How long in-flight requests may take to finish after SIGTERM.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one request may take before it is answered `408`.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// How request logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One human-readable line per event.
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// The values given on the command line; `None` where a flag was not given.
#[derive(Debug, Clone, Default, PartialEq, Eq, clap::Args)]
pub struct ServerFlags {
    /// Address to listen on [env: HOST] [default: 127.0.0.1]
    #[arg(long, global = true)]
    pub host: Option<IpAddr>,
    /// Port to listen on; 0 picks a free one [env: PORT] [default: 8080]
    #[arg(long, short, global = true)]
    pub port: Option<u16>,
    /// A TOML file with `host`, `port`, `warmup`, `log_format`, `drain_timeout`
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Answer /readyz with 503 for this long after start, e.g. `1s` [env: WARMUP]
    #[arg(long, value_parser = humantime::parse_duration)]
    pub warmup: Option<Duration>,
    /// Request log format [env: LOG_FORMAT] [default: text]
    #[arg(long, value_enum)]
    pub log_format: Option<LogFormat>,
    /// How long in-flight requests may take after SIGTERM, e.g. `5s` [default: 5s]
    #[arg(long, value_parser = humantime::parse_duration)]
    pub drain_timeout: Option<Duration>,
}

/// The keys a config file may hold; any other key is an error.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Address to listen on.
    pub host: Option<IpAddr>,
    /// Port to listen on.
    pub port: Option<u16>,
    /// Warm-up delay, humantime syntax (`1s`, `500ms`).
    pub warmup: Option<String>,
    /// `text` or `json`.
    pub log_format: Option<LogFormat>,
    /// Drain timeout, humantime syntax.
    pub drain_timeout: Option<String>,
}

/// The settings the server runs with, every source applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Where to listen.
    pub addr: SocketAddr,
    /// How long `/readyz` answers 503 after start.
    pub warmup: Duration,
    /// Request log format.
    pub log_format: LogFormat,
    /// How long in-flight requests may take after SIGTERM.
    pub drain_timeout: Duration,
    /// How long a request may take.
    pub request_timeout: Duration,
}

/// A configuration that cannot be used, naming the value at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("cannot read config file `{path}`")]
    Read {
        /// The file given with `--config`.
        path: PathBuf,
        /// Why it could not be read.
        #[source]
        source: std::io::Error,
    },
    /// The config file is not valid TOML, has an unknown key, or a value of the wrong type.
    #[error("invalid config file `{path}`: {message}")]
    Parse {
        /// The file given with `--config`.
        path: PathBuf,
        /// What the TOML parser said, with line and column.
        message: String,
    },
    /// An environment variable holds a value that cannot be used.
    #[error("environment variable `{name}` is `{value}`: {expected}")]
    Env {
        /// The variable.
        name: &'static str,
        /// Its value.
        value: String,
        /// What was expected instead.
        expected: &'static str,
    },
    /// A duration in the config file cannot be read.
    #[error(
        "invalid config file `{path}`: `{key}` is `{value}`: expected a duration such as `1s` or `500ms`"
    )]
    FileDuration {
        /// The file given with `--config`.
        path: PathBuf,
        /// The key.
        key: &'static str,
        /// Its value.
        value: String,
    },
}

impl FileConfig {
    /// Reads and parses a config file.
    ///
    /// # Errors
    /// [`ConfigError::Read`] when the file cannot be read, [`ConfigError::Parse`] when it is
    /// not valid TOML or holds a key this server does not know.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        toml::from_str(&text).map_err(|err| ConfigError::Parse {
            path: path.to_owned(),
            message: err.message().to_string() + &line_of(&text, err.span()),
        })
    }
}

fn line_of(text: &str, span: Option<std::ops::Range<usize>>) -> String {
    match span {
        Some(span) => format!(" (line {})", text[..span.start].lines().count().max(1)),
        None => String::new(),
    }
}

impl Settings {
    /// Applies flags, then environment variables (read through `env`), then the file.
    ///
    /// # Errors
    /// A config file that cannot be read or parsed, or an environment variable with an
    /// unusable value; each error names the value.
    pub fn resolve(
        flags: &ServerFlags,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let file = match &flags.config {
            Some(path) => FileConfig::load(path)?,
            None => FileConfig::default(),
        };
        let file_path = flags.config.clone().unwrap_or_default();
        let file_duration = |key: &'static str, value: &Option<String>| {
            value
                .as_deref()
                .map(|v| {
                    humantime::parse_duration(v).map_err(|_| ConfigError::FileDuration {
                        path: file_path.clone(),
                        key,
                        value: v.to_string(),
                    })
                })
                .transpose()
        };

        let host = match flags.host {
            Some(host) => host,
            None => match env_value(&env, "HOST", "an IP address such as `0.0.0.0`")? {
                Some(host) => host,
                None => file.host.unwrap_or(DEFAULT_HOST),
            },
        };
        let port = match flags.port {
            Some(port) => port,
            None => match env_value(&env, "PORT", "a port number from 0 to 65535")? {
                Some(port) => port,
                None => file.port.unwrap_or(DEFAULT_PORT),
            },
        };
        let warmup = match flags.warmup {
            Some(warmup) => warmup,
            None => match env_duration(&env, "WARMUP")? {
                Some(warmup) => warmup,
                None => file_duration("warmup", &file.warmup)?.unwrap_or_default(),
            },
        };
        let log_format = match flags.log_format {
            Some(format) => format,
            None => match env("LOG_FORMAT").as_deref() {
                Some("text") => LogFormat::Text,
                Some("json") => LogFormat::Json,
                Some(other) => {
                    return Err(ConfigError::Env {
                        name: "LOG_FORMAT",
                        value: other.to_string(),
                        expected: "`text` or `json`",
                    });
                }
                None => file.log_format.unwrap_or_default(),
            },
        };
        let drain_timeout = match flags.drain_timeout {
            Some(timeout) => timeout,
            None => file_duration("drain_timeout", &file.drain_timeout)?
                .unwrap_or(DEFAULT_DRAIN_TIMEOUT),
        };
        Ok(Self {
            addr: SocketAddr::new(host, port),
            warmup,
            log_format,
            drain_timeout,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
        })
    }
}

fn env_value<T: std::str::FromStr>(
    env: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    expected: &'static str,
) -> Result<Option<T>, ConfigError> {
    match env(name) {
        None => Ok(None),
        Some(value) => value
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| ConfigError::Env {
                name,
                value,
                expected,
            }),
    }
}

fn env_duration(
    env: &impl Fn(&str) -> Option<String>,
    name: &'static str,
) -> Result<Option<Duration>, ConfigError> {
    match env(name) {
        None => Ok(None),
        Some(value) => humantime::parse_duration(value.trim())
            .map(Some)
            .map_err(|_| ConfigError::Env {
                name,
                value,
                expected: "a duration such as `1s` or `500ms`",
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    use std::io::Write;

    fn config_file(text: &str) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(text.as_bytes()).unwrap();
        file
    }

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    /// Flag, env var, file, default: the first one present wins (issue #2).
    #[rstest]
    #[case::default(None, &[], None, 8080)]
    #[case::file_only(None, &[], Some("port = 7000"), 7000)]
    #[case::env_beats_file(None, &[("PORT", "8084")], Some("port = 7000"), 8084)]
    #[case::flag_beats_env(Some(8090), &[("PORT", "8084")], None, 8090)]
    #[case::flag_beats_all(Some(8090), &[("PORT", "8084")], Some("port = 7000"), 8090)]
    #[case::env_only(None, &[("PORT", "80")], None, 80)]
    fn port_precedence(
        #[case] flag: Option<u16>,
        #[case] env: &'static [(&'static str, &'static str)],
        #[case] file: Option<&str>,
        #[case] expected: u16,
    ) {
        let file = file.map(config_file);
        let flags = ServerFlags {
            port: flag,
            config: file.as_ref().map(|f| f.path().to_owned()),
            ..Default::default()
        };
        let settings = Settings::resolve(&flags, env_of(env)).unwrap();
        assert_eq!(settings.addr.port(), expected);
    }

    #[test]
    fn host_warmup_and_log_format_follow_the_same_order() {
        let file = config_file("host = \"::1\"\nwarmup = \"2s\"\nlog_format = \"json\"\n");
        let flags = ServerFlags {
            config: Some(file.path().to_owned()),
            ..Default::default()
        };
        let from_file = Settings::resolve(&flags, env_of(&[])).unwrap();
        assert_eq!(from_file.addr.ip().to_string(), "::1");
        assert_eq!(from_file.warmup, Duration::from_secs(2));
        assert_eq!(from_file.log_format, LogFormat::Json);

        let from_env = Settings::resolve(
            &flags,
            env_of(&[
                ("HOST", "0.0.0.0"),
                ("WARMUP", "1s"),
                ("LOG_FORMAT", "text"),
            ]),
        )
        .unwrap();
        assert_eq!(from_env.addr.ip().to_string(), "0.0.0.0");
        assert_eq!(from_env.warmup, Duration::from_secs(1));
        assert_eq!(from_env.log_format, LogFormat::Text);
    }

    #[rstest]
    #[case(&[("PORT", "eighty")], "environment variable `PORT` is `eighty`: a port number from 0 to 65535")]
    #[case(&[("PORT", "70000")], "environment variable `PORT` is `70000`: a port number from 0 to 65535")]
    #[case(&[("HOST", "localhost:80")], "environment variable `HOST` is `localhost:80`: an IP address such as `0.0.0.0`")]
    #[case(&[("WARMUP", "soon")], "environment variable `WARMUP` is `soon`: a duration such as `1s` or `500ms`")]
    #[case(&[("LOG_FORMAT", "xml")], "environment variable `LOG_FORMAT` is `xml`: `text` or `json`")]
    fn bad_environment_values_are_named(
        #[case] env: &'static [(&'static str, &'static str)],
        #[case] message: &str,
    ) {
        let err = Settings::resolve(&ServerFlags::default(), env_of(env)).unwrap_err();
        assert_eq!(err.to_string(), message);
    }

    #[rstest]
    #[case("prot = 80", "unknown field `prot`")]
    #[case(
        "port = 99999",
        "invalid value: integer `99999`, expected u16 (line 1)"
    )]
    #[case("port = \"80\"", "invalid type")]
    #[case("port = ", "invalid")]
    #[case("warmup = \"soon\"", "`warmup` is `soon`")]
    fn bad_config_files_are_named(#[case] text: &str, #[case] fragment: &str) {
        let file = config_file(text);
        let flags = ServerFlags {
            config: Some(file.path().to_owned()),
            ..Default::default()
        };
        let message = Settings::resolve(&flags, env_of(&[]))
            .unwrap_err()
            .to_string();
        assert!(message.contains(fragment), "{message}");
        assert!(
            message.contains(&file.path().display().to_string()),
            "names the file: {message}"
        );
    }

    #[test]
    fn an_unreadable_config_file_is_named() {
        let flags = ServerFlags {
            config: Some("/nonexistent/arch-server.toml".into()),
            ..Default::default()
        };
        let err = Settings::resolve(&flags, env_of(&[])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot read config file `/nonexistent/arch-server.toml`"
        );
    }
}
