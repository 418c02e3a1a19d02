//! Shutdown signals and hooks.

use std::time::Duration;

use futures_util::future::BoxFuture;

/// A function the server calls once when shutdown starts, before it stops accepting.
pub(crate) type ShutdownHook = Box<dyn FnOnce() -> BoxFuture<'static, ()> + Send>;

/// Completes on `SIGTERM` or `SIGINT` (Ctrl-C); on non-Unix systems on Ctrl-C only.
///
/// This is the signal [`BoundServer::serve`](crate::BoundServer::serve) waits for. If a signal
/// handler cannot be installed the error is logged and that signal is never reported.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        match tokio::signal::ctrl_c().await {
            Ok(()) => "SIGINT",
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for Ctrl-C");
                std::future::pending().await
            }
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
                "SIGTERM"
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending().await
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<&str>();
    let name = tokio::select! {
        name = ctrl_c => name,
        name = terminate => name,
    };
    tracing::info!(signal = name, "shutdown signal received");
}

/// Runs the hooks in registration order, together bounded by `limit`.
pub(crate) async fn run_hooks(hooks: Vec<ShutdownHook>, limit: Duration) {
    if hooks.is_empty() {
        return;
    }
    let count = hooks.len();
    let all = async {
        for hook in hooks {
            hook().await;
        }
    };
    if tokio::time::timeout(limit, all).await.is_err() {
        tracing::warn!(
            hooks = count,
            ?limit,
            "shutdown hooks did not finish in time; continuing"
        );
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn hooks_run_in_order_and_are_bounded() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut hooks: Vec<ShutdownHook> = Vec::new();
        for i in 0..3 {
            let log = log.clone();
            hooks.push(Box::new(move || {
                Box::pin(async move {
                    log.lock().unwrap().push(i);
                })
            }));
        }
        hooks.push(Box::new(|| Box::pin(std::future::pending())));
        let started = tokio::time::Instant::now();
        run_hooks(hooks, Duration::from_secs(2)).await;
        assert_eq!(started.elapsed(), Duration::from_secs(2));
        assert_eq!(*log.lock().unwrap(), [0, 1, 2]);
        run_hooks(Vec::new(), Duration::from_secs(2)).await;
    }
}
