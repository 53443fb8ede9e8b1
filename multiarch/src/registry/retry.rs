//! Transient registry failures retried, as go-containerregistry and skopeo do: a
//! connection refused, reset or cut short, a timeout, and HTTP 408, 429, 500, 502, 503 and
//! 504 are tried again after an exponential, jittered wait (or the `Retry-After` the
//! registry asked for), bounded in tries and in total time. Definite answers (401, 403,
//! 404, a digest that does not match) are never retried. Each operation is retried whole:
//! a blob upload starts again from its first byte, in a new upload session.

use std::time::Duration;

use super::error::RegistryError;
use crate::retry::{GaveUp, GiveUp};

/// Why an error is worth another try, or `None` for a definite answer.
pub(crate) fn transient(error: &RegistryError) -> Option<(String, Option<Duration>)> {
    match error {
        RegistryError::Transient {
            status,
            retry_after,
            ..
        } => Some((format!("HTTP {status}"), *retry_after)),
        RegistryError::Unreachable { source, .. } => {
            Some((crate::cause::root_cause(source.as_ref()), None))
        }
        _ => None,
    }
}

/// Whether `error` is a connection the registry's host refused (nothing listens there).
pub(crate) fn refused(error: &RegistryError) -> bool {
    let RegistryError::Unreachable { source, .. } = error else {
        return false;
    };
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(source.as_ref());
    while let Some(current) = cause {
        if current
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::ConnectionRefused)
        {
            return true;
        }
        cause = current.source();
    }
    false
}

/// Whether an HTTP status is one a busy or restarting registry gives.
pub(crate) fn is_transient_status(status: u16) -> bool {
    matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
}

/// The error for an HTTP answer that says "not now" (`Retry-After` read), or `None` for
/// any other status, which the caller names itself.
pub(crate) fn transient_answer(
    reference: &oci_client::Reference,
    status: u16,
    headers: &reqwest::header::HeaderMap,
) -> Option<RegistryError> {
    is_transient_status(status).then(|| RegistryError::Transient {
        reference: reference.whole(),
        status,
        retry_after: retry_after(headers),
    })
}

/// `Retry-After` in seconds (the HTTP-date form is rare from registries and read as
/// absent, which falls back to the doubling wait).
pub(crate) fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

impl GiveUp for RegistryError {
    fn give_up(self, what: String, tries: u32, seconds: f64) -> Self {
        RegistryError::GaveUp(GaveUp::new(what, tries, seconds, self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retry::{OnRetry, RetryPolicy, Retrying, retrying};
    use std::sync::Arc;

    type Result<T> = std::result::Result<T, RegistryError>;

    #[test]
    fn only_transient_answers_are_retried() {
        for status in [408, 429, 500, 502, 503, 504] {
            assert!(is_transient_status(status), "{status}");
        }
        for status in [400, 401, 403, 404, 405, 409, 501] {
            assert!(!is_transient_status(status), "{status}");
        }
        let not_found = RegistryError::NotFound {
            reference: "x".into(),
        };
        assert_eq!(transient(&not_found), None);
    }

    #[tokio::test]
    async fn a_failing_request_is_tried_as_often_as_allowed_then_given_up_on() {
        let policy = RetryPolicy {
            tries: 3,
            first_wait: Duration::from_millis(1),
            ..RetryPolicy::default()
        };
        let heard = Arc::new(std::sync::Mutex::new(Vec::new()));
        let on_retry: OnRetry = {
            let heard = heard.clone();
            Arc::new(move |r: &Retrying| heard.lock().unwrap().push(r.attempt))
        };
        let tried = std::sync::atomic::AtomicU32::new(0);
        let result: Result<()> = retrying(
            &policy,
            Some(on_retry.as_ref()),
            transient,
            || "GET x".into(),
            || async {
                tried.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                Err(RegistryError::Transient {
                    reference: "x".into(),
                    status: 503,
                    retry_after: None,
                })
            },
        )
        .await;
        assert_eq!(tried.into_inner(), 3);
        assert_eq!(*heard.lock().unwrap(), [2, 3]);
        let error = result.unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("gave up on GET x after 3 tries in "),
            "{error}"
        );
    }

    #[tokio::test]
    async fn a_definite_answer_is_not_retried_and_a_late_success_counts() {
        let policy = RetryPolicy {
            first_wait: Duration::from_millis(1),
            ..RetryPolicy::default()
        };
        let tried = std::sync::atomic::AtomicU32::new(0);
        let result: Result<()> = retrying(
            &policy,
            None,
            transient,
            || "GET x".into(),
            || async {
                tried.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                Err(RegistryError::NotFound {
                    reference: "x".into(),
                })
            },
        )
        .await;
        assert!(matches!(result, Err(RegistryError::NotFound { .. })));
        assert_eq!(tried.into_inner(), 1);

        let tried = std::sync::atomic::AtomicU32::new(0);
        let result = retrying(
            &policy,
            None,
            transient,
            || "GET x".into(),
            || async {
                if tried.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < 2 {
                    Err(RegistryError::Transient {
                        reference: "x".into(),
                        status: 429,
                        retry_after: Some(Duration::from_millis(1)),
                    })
                } else {
                    Ok(7)
                }
            },
        )
        .await;
        assert_eq!(result.unwrap(), 7);
    }
}
