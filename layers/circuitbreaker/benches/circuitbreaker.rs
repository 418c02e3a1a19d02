//! Circuit-breaker call overhead in the closed state: ours vs failsafe vs tower-resilience.
#![allow(missing_docs, clippy::unwrap_used)]

use std::{convert::Infallible, hint::black_box, time::Duration};

use core_backend_circuitbreaker::{CircuitBreaker, CircuitBreakerLayer, ErrorClassifier};
use criterion::{Criterion, criterion_group, criterion_main};
use tower::{Layer, Service, ServiceExt};

async fn ok(req: u64) -> Result<u64, Infallible> {
    Ok(req + 1)
}

fn run<S>(b: &mut criterion::Bencher<'_>, rt: &tokio::runtime::Runtime, svc: &S)
where
    S: Service<u64, Response = u64> + Clone,
    S::Error: std::fmt::Debug,
{
    b.to_async(rt).iter_custom(|iters| {
        let mut svc = svc.clone();
        async move {
            let start = std::time::Instant::now();
            for i in 0..iters {
                let s = svc.ready().await.unwrap();
                black_box(s.call(i).await.unwrap());
            }
            start.elapsed()
        }
    });
}

async fn time<S>(svc: &S, n: u64) -> Duration
where
    S: Service<u64, Response = u64> + Clone,
    S::Error: std::fmt::Debug,
{
    let mut svc = svc.clone();
    let start = std::time::Instant::now();
    for i in 0..n {
        let s = svc.ready().await.unwrap();
        black_box(s.call(i).await.unwrap());
    }
    start.elapsed()
}

async fn time_failsafe<P, I>(cb: &failsafe::StateMachine<P, I>, n: u64) -> Duration
where
    P: failsafe::FailurePolicy + Send + Sync,
    I: failsafe::Instrument + Send + Sync,
{
    use failsafe::futures::CircuitBreaker as _;
    let mut svc = tower::service_fn(ok);
    let start = std::time::Instant::now();
    for i in 0..n {
        let s = svc.ready().await.unwrap();
        black_box(cb.call(s.call(i)).await.unwrap());
    }
    start.elapsed()
}

/// Median over `rounds` of the ratio of two alternating timed batches: robust to the load
/// drift of a shared machine, which skews benches that run one after the other.
fn median(mut ratios: Vec<f64>) -> f64 {
    ratios.sort_by(f64::total_cmp);
    ratios[ratios.len() / 2]
}

fn closed_call(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let mut g = c.benchmark_group("circuitbreaker_closed_call");
    g.measurement_time(Duration::from_secs(3)).sample_size(30);

    let bare = tower::service_fn(ok);
    g.bench_function("bare_service", |b| run(b, &rt, &bare));

    let ours = rt.block_on(async {
        CircuitBreakerLayer::new(CircuitBreaker::builder().build())
            .classifier(ErrorClassifier)
            .layer(tower::service_fn(ok))
    });
    g.bench_function("core_backend_circuitbreaker", |b| run(b, &rt, &ours));

    // failsafe has no tower layer: wrap the inner call's future, as its docs show.
    let failsafe_cb = failsafe::Config::new().build();
    g.bench_function("failsafe", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let cb = failsafe_cb.clone();
            let mut svc = tower::service_fn(ok);
            async move {
                use failsafe::futures::CircuitBreaker as _;
                let start = std::time::Instant::now();
                for i in 0..iters {
                    let s = svc.ready().await.unwrap();
                    black_box(cb.call(s.call(i)).await.unwrap());
                }
                start.elapsed()
            }
        });
    });

    let resilience = rt.block_on(async {
        tower_resilience_circuitbreaker::CircuitBreakerLayer::builder()
            .build()
            .unwrap()
            .layer(tower::service_fn(ok))
    });
    g.bench_function("tower_resilience_circuitbreaker", |b| {
        run(b, &rt, &resilience);
    });
    g.finish();

    let batch = 50_000;
    let per_call = |d: Duration| d.as_secs_f64() * 1e9 / batch as f64;
    let mut rounds = Vec::new();
    for _ in 0..21 {
        rounds.push(rt.block_on(async {
            let a = per_call(time(&ours, batch).await);
            let b = per_call(time_failsafe(&failsafe_cb, batch).await);
            let c = per_call(time(&resilience, batch).await);
            (a, b, c)
        }));
    }
    let ours_ns = median(rounds.iter().map(|r| r.0).collect());
    let failsafe_ns = median(rounds.iter().map(|r| r.1).collect());
    let resilience_ns = median(rounds.iter().map(|r| r.2).collect());
    let vs_failsafe = median(rounds.iter().map(|r| r.0 / r.1).collect());
    let vs_resilience = median(rounds.iter().map(|r| r.0 / r.2).collect());
    println!(
        "paired medians per call: core_backend_circuitbreaker {ours_ns:.1} ns, failsafe {failsafe_ns:.1} ns, tower_resilience_circuitbreaker {resilience_ns:.1} ns"
    );
    println!("paired median ratio core_backend_circuitbreaker / failsafe = {vs_failsafe:.3}");
    println!(
        "paired median ratio core_backend_circuitbreaker / tower_resilience_circuitbreaker = {vs_resilience:.3}"
    );
}

/// The bare state machines (no tower, no futures) shared by two threads: admission plus a
/// recorded success per call.
fn contended(c: &mut Criterion) {
    use core_backend_circuitbreaker::Outcome;
    use failsafe::CircuitBreaker as _;

    fn on_threads(iters: u64, f: impl Fn() + Sync) -> Duration {
        let start = std::time::Instant::now();
        std::thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| (0..iters / 2).for_each(|_| f()));
            }
        });
        start.elapsed()
    }

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let ours = rt.block_on(async { CircuitBreaker::builder().build() });
    let theirs = failsafe::Config::new().build();
    let mut g = c.benchmark_group("circuitbreaker_two_threads");
    g.measurement_time(Duration::from_secs(3)).sample_size(30);
    g.bench_function("core_backend_circuitbreaker", |b| {
        b.iter_custom(|iters| {
            on_threads(iters, || {
                ours.try_acquire().unwrap().record(Outcome::Success);
            })
        });
    });
    g.bench_function("failsafe", |b| {
        b.iter_custom(|iters| {
            on_threads(iters, || {
                black_box(theirs.call(|| Ok::<_, ()>(()))).unwrap();
            })
        });
    });
    g.finish();
}

criterion_group!(benches, closed_call, contended);
criterion_main!(benches);
