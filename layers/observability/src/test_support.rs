//! Helpers of the unit tests: a local Prometheus recorder and small bodies.

use std::future::Future;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, StreamBody};
use metrics_exporter_prometheus::PrometheusHandle;

use crate::prometheus_recorder;

/// Runs `f` on a current-thread runtime with a fresh local recorder; returns its output and
/// the rendered exposition.
pub(crate) fn with_recorder<F, Fut>(f: F) -> (Fut::Output, String)
where
    F: FnOnce(PrometheusHandle) -> Fut,
    Fut: Future,
{
    let recorder = prometheus_recorder();
    let handle = recorder.handle();
    let output = metrics::with_local_recorder(&recorder, || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(f(handle.clone()))
    });
    (output, handle.render())
}

/// The sample lines of `metric` (a full Prometheus series name) in `text`.
pub(crate) fn series<'a>(text: &'a str, metric: &str) -> Vec<&'a str> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter(|line| {
            line.strip_prefix(metric)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .collect()
}

/// The value of the first sample of `metric` whose line contains every one of `labels`.
pub(crate) fn value(text: &str, metric: &str, labels: &[&str]) -> Option<f64> {
    series(text, metric)
        .into_iter()
        .find(|line| labels.iter().all(|l| line.contains(l)))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

pub(crate) fn full(text: &'static str) -> Full<Bytes> {
    Full::new(Bytes::from_static(text.as_bytes()))
}

pub(crate) type FrameStream = StreamBody<
    tokio_stream::Iter<
        std::vec::IntoIter<Result<http_body::Frame<Bytes>, std::convert::Infallible>>,
    >,
>;

/// A body of one data frame followed by trailers with `grpc-status: code`.
pub(crate) fn grpc_body(code: &str) -> FrameStream {
    let mut trailers = http::HeaderMap::new();
    trailers.insert(
        "grpc-status",
        http::HeaderValue::from_str(code).expect("valid header value"),
    );
    StreamBody::new(tokio_stream::iter(vec![
        Ok(http_body::Frame::data(Bytes::from_static(b"\0\0\0\0\0"))),
        Ok(http_body::Frame::trailers(trailers)),
    ]))
}

/// Reads a body to its end.
pub(crate) async fn drain<B>(body: B) -> Bytes
where
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    body.collect().await.expect("body").to_bytes()
}
