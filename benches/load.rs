//! A small closed-loop HTTP load driver shared by the root benchmarks: `concurrency` tasks on one
//! hyper-util client (HTTP/1.1 keep-alive pool) send `GET`s to a loopback address until `total`
//! requests are done. It returns the wall time and every latency, so one run gives req/s, p50 and p99.

#![allow(dead_code)]

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use http_body_util::{BodyExt, Empty};
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};

pub(crate) type HttpClient = Client<HttpConnector, Empty<bytes::Bytes>>;

pub(crate) fn client(concurrency: usize) -> HttpClient {
    Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(concurrency)
        .build_http()
}

pub(crate) struct Run {
    pub(crate) elapsed: Duration,
    pub(crate) latencies: Vec<Duration>,
}

impl Run {
    pub(crate) fn per_second(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64()
    }

    pub(crate) fn percentile(&self, p: f64) -> Duration {
        let mut sorted = self.latencies.clone();
        sorted.sort_unstable();
        let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
        sorted.get(rank).copied().unwrap_or_default()
    }
}

/// Sends `total` GETs of `path` to `addr` from `concurrency` tasks; panics on any non-200 answer,
/// so a broken stack cannot produce a flattering figure.
pub(crate) async fn drive(
    client: &HttpClient,
    addr: SocketAddr,
    path: &str,
    total: usize,
    concurrency: usize,
) -> Run {
    let uri: http::Uri = format!("http://{addr}{path}").parse().expect("uri");
    let left = Arc::new(AtomicUsize::new(total));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        let client = client.clone();
        let uri = uri.clone();
        let left = left.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(total / concurrency + 1);
            while left
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                .is_ok()
            {
                let t = Instant::now();
                let resp = client.get(uri.clone()).await.expect("request");
                let status = resp.status();
                let body = resp.into_body().collect().await.expect("body").to_bytes();
                assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
                latencies.push(t.elapsed());
            }
            latencies
        }));
    }
    let mut latencies = Vec::with_capacity(total);
    for task in tasks {
        latencies.extend(task.await.expect("load task"));
    }
    Run {
        elapsed: started.elapsed(),
        latencies,
    }
}
