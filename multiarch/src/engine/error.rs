//! What can go wrong with a Docker engine and the containers the kit runs on it: the
//! engine layer's own failures. The crate's `Error` (`error.rs`) wraps them
//! whole.

use crate::cause::Cause;

/// An engine failure.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The Docker engine cannot be reached.
    #[error("cannot reach the Docker engine")]
    Unreachable {
        /// The transport error, or the wait that ran out.
        #[source]
        source: Cause,
    },
    /// A container ended as soon as it started, before it could be reached.
    #[error("`{image}` exited with code {code} as soon as it started")]
    ContainerExited {
        /// The image.
        image: String,
        /// Its exit code.
        code: i64,
        /// The last lines it printed.
        last_lines: Vec<String>,
    },
    /// A server did not answer in time.
    #[error("`{url}` did not answer within {seconds} s: {last}")]
    NotReady {
        /// What was polled.
        url: String,
        /// How long.
        seconds: u64,
        /// What was last seen: a refused connection, a status.
        last: String,
        /// The container behind the URL, whose logs say why.
        container: String,
    },
    /// An image is not in the engine and cannot be pulled.
    #[error("the image `{image}` is not available")]
    ImageUnavailable {
        /// The image.
        image: String,
        /// The engine's answer to the pull.
        #[source]
        source: bollard::errors::Error,
    },
    /// An engine address that cannot be used.
    #[error("`{endpoint}` is not an engine address this kit can use: {reason}")]
    BadEndpoint {
        /// As given.
        endpoint: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A call to the Docker engine failed.
    #[error("the Docker engine refused to {action}")]
    Refused {
        /// What was being done: `pull localhost:5000/x for linux/arm64`.
        action: String,
        /// The engine's answer.
        #[source]
        source: Cause,
    },
    /// ssh could not reach the engine on an `ssh://` host.
    #[error("cannot reach the engine at `{destination}` over SSH: {reason}")]
    SshRefused {
        /// `ssh://user@host:port`.
        destination: String,
        /// What kind of refusal, for the fix.
        problem: super::ssh::SshProblem,
        /// ssh's own last words.
        reason: String,
    },
    /// An engine call that kept failing transiently (the engine's pull of a busy
    /// registry) until its tries or time ran out.
    #[error(transparent)]
    GaveUp(crate::retry::GaveUp<EngineError>),
}

impl crate::retry::GiveUp for EngineError {
    fn give_up(self, what: String, tries: u32, seconds: f64) -> Self {
        EngineError::GaveUp(crate::retry::GaveUp::new(what, tries, seconds, self))
    }
}

/// The error for an engine call that failed while doing `action`, for `map_err`.
pub(crate) fn refused(
    action: impl Into<String>,
) -> impl FnOnce(bollard::errors::Error) -> EngineError {
    let action = action.into();
    move |source| EngineError::Refused {
        action,
        source: source.into(),
    }
}

/// Shorthand for results of the engine layer.
pub type Result<T, E = EngineError> = std::result::Result<T, E>;
