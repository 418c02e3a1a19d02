//! Hot reload by polling the config files.

use std::path::PathBuf;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use tokio::sync::watch;
use tokio::time::MissedTickBehavior;

use crate::error::{ConfigError, ErrorKind};
use crate::loader::ConfigLoader;

/// A configuration value kept up to date with its files; see [`ConfigLoader::watch`].
///
/// Subscribers see each successfully reloaded value through a [`tokio::sync::watch`]
/// channel. The polling task stops when the `ConfigWatcher` and every receiver obtained from
/// it are dropped.
#[derive(Debug)]
pub struct ConfigWatcher<T> {
    rx: watch::Receiver<T>,
}

impl<T> ConfigWatcher<T> {
    /// A new receiver of reloaded values; [`watch::Receiver::changed`] wakes on each reload.
    pub fn subscribe(&self) -> watch::Receiver<T> {
        self.rx.clone()
    }

    /// Borrows the current value.
    pub fn borrow(&self) -> watch::Ref<'_, T> {
        self.rx.borrow()
    }

    /// A clone of the current value.
    pub fn current(&self) -> T
    where
        T: Clone,
    {
        self.rx.borrow().clone()
    }

    /// The underlying receiver.
    pub fn into_receiver(self) -> watch::Receiver<T> {
        self.rx
    }
}

/// What the files looked like at the last poll: content, or `None` when absent.
type Fingerprint = Vec<(PathBuf, Option<Vec<u8>>)>;

fn fingerprint(paths: &[PathBuf]) -> Fingerprint {
    paths
        .iter()
        .map(|p| (p.clone(), std::fs::read(p).ok()))
        .collect()
}

impl<T> ConfigLoader<T>
where
    T: DeserializeOwned + Send + Sync + 'static,
{
    /// Loads once (failing like [`load`](Self::load)), then re-reads the file layers every
    /// [`poll_interval`](Self::poll_interval) and, when one changed (content, appearance or
    /// removal), loads again and publishes the new value.
    ///
    /// A reload that fails (syntax error, bad value, failed validation) keeps the previous
    /// value, logs the error at `warn` and increments `core_backend.config.reload_failures`;
    /// the next change is tried again. Successful reloads increment
    /// `core_backend.config.reloads`. Environment variables and overrides are re-applied at
    /// each reload, so the precedence stays the same.
    ///
    /// Must be called inside a Tokio runtime; outside one it returns an error of kind
    /// [`ErrorKind::Other`](crate::ErrorKind::Other).
    ///
    /// # Why polling and not inotify
    ///
    /// Config files are small and change rarely, and the places they are mounted from defeat
    /// file-system events: Kubernetes ConfigMaps swap a symlinked directory, editors replace
    /// the file by rename, NFS and many container bind mounts send no events at all. Reading a
    /// few kilobytes every couple of seconds and comparing bytes is correct on all of them,
    /// needs no extra dependency or thread, and sees changes within one interval.
    pub fn watch(&self) -> Result<ConfigWatcher<T>, ConfigError> {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return Err(ConfigError::new(ErrorKind::Other)
                .with_message("ConfigLoader::watch must be called inside a Tokio runtime"));
        };
        let initial = self.load()?;
        let (tx, rx) = watch::channel(initial);
        let loader = Arc::new(self.clone());
        let interval = self.poll_interval;
        let mut last = fingerprint(&loader.watched_paths());
        runtime.spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
            ticker.tick().await;
            loop {
                tokio::select! {
                    () = tx.closed() => return,
                    _ = ticker.tick() => {}
                }
                let loader = Arc::clone(&loader);
                let previous = std::mem::take(&mut last);
                let polled = tokio::task::spawn_blocking(move || {
                    let now = fingerprint(&loader.watched_paths());
                    if now == previous {
                        return (now, None);
                    }
                    let outcome = loader.load();
                    (now, Some(outcome))
                })
                .await;
                let Ok((now, outcome)) = polled else {
                    // The blocking task panicked (a user validation hook): keep the old value.
                    tracing::warn!("config reload task failed; keeping the previous configuration");
                    metrics::counter!("core_backend.config.reload_failures").increment(1);
                    continue;
                };
                last = now;
                match outcome {
                    None => {}
                    Some(Ok(value)) => {
                        tracing::info!("configuration reloaded");
                        metrics::counter!("core_backend.config.reloads").increment(1);
                        tx.send_replace(value);
                    }
                    Some(Err(error)) => {
                        tracing::warn!(%error, "config reload failed; keeping the previous configuration");
                        metrics::counter!("core_backend.config.reload_failures").increment(1);
                    }
                }
            }
        });
        Ok(ConfigWatcher { rx })
    }
}
