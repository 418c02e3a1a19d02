//! Retry layer overhead when no retry happens, against tower's own `Retry`.
#![allow(missing_docs, clippy::unwrap_used)]

use std::{convert::Infallible, future::Ready, hint::black_box, sync::Arc, time::Duration};

use bytes::Bytes;
use core_backend_retry::RetryLayer;
use criterion::{Criterion, criterion_group, criterion_main};
use http::{Request, Response};
use http_body_util::Full;
use tower::{
    Layer, Service, ServiceExt,
    retry::{
        Policy,
        budget::{Budget, TpsBudget},
    },
};

type Req = Request<Full<Bytes>>;

fn copy(req: &Req) -> Req {
    let mut copy = Request::new(req.body().clone());
    *copy.method_mut() = req.method().clone();
    *copy.uri_mut() = req.uri().clone();
    *copy.version_mut() = req.version();
    *copy.headers_mut() = req.headers().clone();
    *copy.extensions_mut() = req.extensions().clone();
    copy
}

/// The policy from tower's docs: a fixed number of attempts.
#[derive(Clone)]
struct Attempts(usize);

impl<E> Policy<Req, Response<()>, E> for Attempts {
    type Future = Ready<()>;
    fn retry(&mut self, _: &mut Req, result: &mut Result<Response<()>, E>) -> Option<Ready<()>> {
        match result {
            Ok(r) if r.status().is_server_error() && self.0 > 0 => {
                self.0 -= 1;
                Some(std::future::ready(()))
            }
            _ => None,
        }
    }
    fn clone_request(&mut self, req: &Req) -> Option<Req> {
        Some(copy(req))
    }
}

/// tower's `Attempts` plus its `TpsBudget`, the closest tower gets to our default.
#[derive(Clone)]
struct Budgeted(Arc<TpsBudget>);

impl<E> Policy<Req, Response<()>, E> for Budgeted {
    type Future = Ready<()>;
    fn retry(&mut self, _: &mut Req, result: &mut Result<Response<()>, E>) -> Option<Ready<()>> {
        match result {
            Ok(r) if r.status().is_server_error() && self.0.withdraw() => {
                Some(std::future::ready(()))
            }
            Ok(_) => {
                self.0.deposit();
                None
            }
            Err(_) => None,
        }
    }
    fn clone_request(&mut self, req: &Req) -> Option<Req> {
        Some(copy(req))
    }
}

fn request() -> Req {
    Request::get("http://upstream.invalid/v1/notes/42")
        .header("accept", "application/json")
        .header("x-request-id", "0f1e2d3c")
        .body(Full::new(Bytes::from_static(b"")))
        .unwrap()
}

async fn ok(_: Req) -> Result<Response<()>, Infallible> {
    Ok(Response::new(()))
}

async fn drive<S: Service<Req, Response = Response<()>, Error = Infallible>>(svc: &mut S) {
    let svc = svc.ready().await.unwrap();
    black_box(svc.call(request()).await.unwrap());
}

fn run<S>(b: &mut criterion::Bencher<'_>, rt: &tokio::runtime::Runtime, svc: &S)
where
    S: Service<Req, Response = Response<()>, Error = Infallible> + Clone,
{
    b.to_async(rt).iter_custom(|iters| {
        let mut svc = svc.clone();
        async move {
            let start = std::time::Instant::now();
            for _ in 0..iters {
                drive(&mut svc).await;
            }
            start.elapsed()
        }
    });
}

/// Alternates `rounds` batches of `a` and `b` and returns the median of the per-round time
/// ratios `a / b`: robust to the load drift of a shared machine, which skews groups whose
/// benches run one after the other.
fn paired<A, B>(rt: &tokio::runtime::Runtime, a: &A, b: &B, rounds: usize, batch: u64) -> f64
where
    A: Service<Req, Response = Response<()>, Error = Infallible> + Clone,
    B: Service<Req, Response = Response<()>, Error = Infallible> + Clone,
{
    async fn time<S>(svc: &S, n: u64) -> Duration
    where
        S: Service<Req, Response = Response<()>, Error = Infallible> + Clone,
    {
        let mut svc = svc.clone();
        let start = std::time::Instant::now();
        for _ in 0..n {
            drive(&mut svc).await;
        }
        start.elapsed()
    }
    let mut ratios: Vec<f64> = (0..rounds)
        .map(|_| {
            rt.block_on(async {
                let ta = time(a, batch).await;
                let tb = time(b, batch).await;
                ta.as_secs_f64() / tb.as_secs_f64()
            })
        })
        .collect();
    ratios.sort_by(f64::total_cmp);
    ratios[rounds / 2]
}

fn no_retry(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let mut g = c.benchmark_group("retry_no_retry");
    g.measurement_time(Duration::from_secs(3)).sample_size(30);

    let bare = tower::service_fn(ok);
    g.bench_function("bare_service", |b| run(b, &rt, &bare));

    let ours = rt.block_on(async {
        RetryLayer::builder()
            .max_attempts(3)
            .build()
            .layer(tower::service_fn(ok))
    });
    g.bench_function("core_backend_retry", |b| run(b, &rt, &ours));
    let tower_attempts = tower::retry::Retry::new(Attempts(2), tower::service_fn(ok));
    g.bench_function("tower_retry_attempts", |b| {
        run(b, &rt, &tower_attempts);
    });

    let tower_budget = tower::retry::Retry::new(
        Budgeted(Arc::new(TpsBudget::default())),
        tower::service_fn(ok),
    );
    g.bench_function("tower_retry_tps_budget", |b| {
        run(b, &rt, &tower_budget);
    });

    g.finish();

    let ratio = paired(&rt, &ours, &tower_attempts, 21, 20_000);
    println!("paired median ratio core_backend_retry / tower_retry_attempts = {ratio:.3}");
    let ratio = paired(&rt, &ours, &tower_budget, 21, 20_000);
    println!("paired median ratio core_backend_retry / tower_retry_tps_budget = {ratio:.3}");
}

criterion_group!(benches, no_retry);
criterion_main!(benches);
