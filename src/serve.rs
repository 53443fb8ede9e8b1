//! Running the service on a socket, and stopping it cleanly.
//!
//! As PID 1 in a container the server receives `docker stop`'s SIGTERM itself; without a
//! handler the kernel ignores it and Docker kills the process after 10 s. Here SIGTERM
//! and SIGINT stop accepting connections, let in-flight requests finish, and exit 0,
//! with a drain timeout so that a stuck client cannot hold the process forever.

use anyhow::Context;
use std::future::Future;
use tokio::net::TcpListener;

use crate::app::{AppState, app};
use crate::config::Settings;

/// How often the heap trimmer checks whether traffic has stopped.
const TRIM_CHECK_PERIOD: std::time::Duration = std::time::Duration::from_secs(2);

/// Binds the configured address, naming it when that fails.
///
/// # Errors
/// The address is in use, not available on this machine, or needs privileges.
pub async fn bind(settings: &Settings) -> anyhow::Result<TcpListener> {
    let addr = settings.addr;
    TcpListener::bind(addr).await.with_context(|| {
        let hint = if addr.port() < 1024 {
            "\nhint: ports below 1024 need root or CAP_NET_BIND_SERVICE; try `--port 8080`"
        } else {
            "\nhint: is another server on that port? choose another with `--port`"
        };
        format!("cannot listen on `{addr}`{hint}")
    })
}

/// Serves until `shutdown` completes, then drains for at most `drain_timeout`.
///
/// Returns `Ok(true)` when every connection finished in time and `Ok(false)` when the
/// drain timeout cut them off.
///
/// # Errors
/// Accepting connections failed.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    settings: &Settings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<bool> {
    let addr = listener.local_addr()?;
    tracing::info!(url = %format!("http://{addr}"), "listening");

    let warm_state = state.clone();
    let warmup = settings.warmup;
    tokio::spawn(async move {
        tokio::time::sleep(warmup).await;
        warm_state.mark_ready();
        tracing::info!(?warmup, "ready");
    });

    crate::memory::spawn_trimmer(state.activity().clone(), TRIM_CHECK_PERIOD);

    let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<()>();
    let server = axum::serve(listener, app(state, settings.request_timeout))
        .with_graceful_shutdown(async move {
            shutdown.await;
            tracing::info!("shutting down: finishing in-flight requests");
            let _ = stopping_tx.send(());
        });
    let drain_timeout = settings.drain_timeout;
    tokio::select! {
        result = server => {
            result.context("the server stopped accepting connections")?;
            tracing::info!("stopped");
            Ok(true)
        }
        () = async {
            if stopping_rx.await.is_ok() {
                tokio::time::sleep(drain_timeout).await;
            } else {
                std::future::pending::<()>().await;
            }
        } => {
            tracing::warn!(?drain_timeout, "drain timeout: closing the remaining connections");
            Ok(false)
        }
    }
}

/// Completes at the first SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::warn!(%err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
