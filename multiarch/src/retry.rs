//! Requests tried again when they fail transiently, as go-containerregistry and skopeo
//! do: after an exponential, jittered wait (or the wait the server asked for), bounded in
//! tries and in total time, with each retry reported to whoever listens. What is worth
//! another try is the caller's to say: the registry's answers (`registry::retry`) and the
//! engine's pulls each have theirs.

use std::sync::Arc;
use std::time::{Duration, Instant};

/// Environment variable: how many times a registry request is tried in all.
pub(crate) const TRIES_ENV: &str = "MULTIARCH_RETRIES";
/// Environment variable: how long one request may take with its retries, in seconds.
pub(crate) const MAX_TIME_ENV: &str = "MULTIARCH_RETRY_MAX_TIME";

/// How hard to try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Tries in all, the first included (1: no retries).
    pub tries: u32,
    /// The most one request may take, its waits included.
    pub max_time: Duration,
    /// The first wait; each further one doubles, up to `max_wait`.
    pub first_wait: Duration,
    /// The longest single wait (a longer `Retry-After` is shortened to it).
    pub max_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            tries: 5,
            max_time: Duration::from_secs(120),
            first_wait: Duration::from_millis(250),
            max_wait: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// The default, with [`TRIES_ENV`] and [`MAX_TIME_ENV`] applied where they parse.
    pub fn from_env() -> Self {
        let mut policy = Self::default();
        if let Some(tries) = std::env::var(TRIES_ENV).ok().and_then(|t| t.parse().ok()) {
            policy.tries = std::cmp::max(tries, 1);
        }
        if let Some(seconds) = std::env::var(MAX_TIME_ENV)
            .ok()
            .and_then(|t| t.parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s >= 0.0)
        {
            policy.max_time = Duration::from_secs_f64(seconds);
        }
        policy
    }

    /// The wait before try `next` (2 for the first retry): `Retry-After` when the
    /// registry gave one, else the doubling wait scaled by `jitter` (0 to 1) to between
    /// half and all of itself, so that many clients do not retry in step.
    pub fn wait(&self, next: u32, retry_after: Option<Duration>, jitter: f64) -> Duration {
        let wait = retry_after.unwrap_or_else(|| {
            let doubled = self
                .first_wait
                .saturating_mul(1 << next.saturating_sub(2).min(16));
            doubled.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0))
        });
        wait.min(self.max_wait)
    }
}

/// A retry about to happen, for the command line to report.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Retrying {
    /// The request: `GET localhost:5000/app manifest 1.0`.
    pub what: String,
    /// Why: `HTTP 503`, `connection reset by peer`.
    pub reason: String,
    /// The try about to be made (2 for the first retry).
    pub attempt: u32,
    /// Tries in all.
    pub tries: u32,
    /// The wait before it.
    #[serde(serialize_with = "seconds")]
    pub wait: Duration,
}

fn seconds<S: serde::Serializer>(wait: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_f64((wait.as_secs_f64() * 1000.0).round() / 1000.0)
}

/// Who hears of retries.
pub type OnRetry = Arc<dyn Fn(&Retrying) + Send + Sync>;

/// A number from 0 to 1 that differs from call to call, for jitter (not for secrets).
fn jitter() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(Instant::now().elapsed().as_nanos());
    (hasher.finish() % 10_000) as f64 / 10_000.0
}

/// An error that can say a request was given up on, wrapping its last answer.
pub(crate) trait GiveUp: Sized {
    /// `self`, the last answer, as the error of a request tried `tries` times for
    /// `seconds`.
    fn give_up(self, what: String, tries: u32, seconds: f64) -> Self;
}

/// A request given up on: what it was, how often and how long it was tried, and the
/// last answer, of the layer `E` whose request it was.
#[derive(Debug, thiserror::Error)]
#[error("gave up on {what} after {tries} tries in {seconds:.1} s")]
pub struct GaveUp<E: std::error::Error + 'static> {
    /// The request.
    pub what: String,
    /// How many times it was tried.
    pub tries: u32,
    /// How long it was tried for, its waits included.
    pub seconds: f64,
    /// The last answer.
    #[source]
    pub last: Box<E>,
}

impl<E: std::error::Error + 'static> GaveUp<E> {
    pub(crate) fn new(what: String, tries: u32, seconds: f64, last: E) -> Self {
        Self {
            what,
            tries,
            seconds,
            last: Box::new(last),
        }
    }
}

/// Runs `operation` until it succeeds, fails definitely (`worth_retrying` says which
/// failures are not: for a registry, `registry::retry::transient`), or `policy` is spent;
/// `what` names it in reports and in the final error.
///
/// # Errors
/// The definite error; or, when retries ran out, the last one given up on ([`GiveUp`]).
pub(crate) async fn retrying<T, E, F, Fut>(
    policy: &RetryPolicy,
    on_retry: Option<&dyn Fn(&Retrying)>,
    worth_retrying: impl Fn(&E) -> Option<(String, Option<Duration>)>,
    what: impl Fn() -> String,
    mut operation: F,
) -> Result<T, E>
where
    E: GiveUp,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    let started = Instant::now();
    let mut attempt = 1;
    loop {
        let error = match operation().await {
            Ok(value) => return Ok(value),
            Err(error) => error,
        };
        let Some((reason, asked)) = worth_retrying(&error) else {
            return Err(error);
        };
        let wait = policy.wait(attempt + 1, asked, jitter());
        if attempt >= policy.tries || started.elapsed() + wait > policy.max_time {
            if attempt == 1 {
                return Err(error);
            }
            return Err(error.give_up(what(), attempt, started.elapsed().as_secs_f64()));
        }
        attempt += 1;
        let retrying = Retrying {
            what: what(),
            reason,
            attempt,
            tries: policy.tries,
            wait,
        };
        tracing::debug!(?retrying, "retrying a request");
        if let Some(on_retry) = on_retry {
            on_retry(&retrying);
        }
        tokio::time::sleep(wait).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_with_jitter_and_honour_retry_after_up_to_the_cap() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.wait(2, None, 1.0), Duration::from_millis(250));
        assert_eq!(policy.wait(3, None, 1.0), Duration::from_millis(500));
        assert_eq!(policy.wait(4, None, 0.0), Duration::from_millis(500));
        assert_eq!(policy.wait(30, None, 1.0), Duration::from_secs(10));
        assert_eq!(
            policy.wait(2, Some(Duration::from_secs(1)), 0.3),
            Duration::from_secs(1)
        );
        assert_eq!(
            policy.wait(2, Some(Duration::from_secs(3600)), 0.3),
            Duration::from_secs(10),
            "a Retry-After longer than the cap is shortened"
        );
    }
}
