//! Ours vs the `uuid` and `ulid` crates, each group measured in one run.
//!
//! Run: `cargo bench -p core-backend-idgen --no-run`, then the printed binary with `--bench`.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use core_backend_idgen::{Snowflake, SnowflakeLayout, Ulid, UlidGenerator, Uuid, UuidV7Generator};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn config() -> Criterion {
    Criterion::default()
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
        .sample_size(30)
}

fn uuid_v4(c: &mut Criterion) {
    let mut g = c.benchmark_group("uuid_v4");
    g.bench_function("ours Uuid::new_v4", |b| {
        b.iter(|| black_box(Uuid::new_v4()));
    });
    g.bench_function("uuid crate Uuid::new_v4", |b| {
        b.iter(|| black_box(uuid::Uuid::new_v4()));
    });
    g.bench_function("ulid crate Ulid::generate", |b| {
        b.iter(|| black_box(ulid::Ulid::generate()));
    });
    g.finish();
}

fn uuid_v7(c: &mut Criterion) {
    let mut g = c.benchmark_group("uuid_v7");
    g.bench_function("reference: SystemTime::now", |b| {
        b.iter(|| black_box(std::time::SystemTime::now()));
    });
    g.bench_function("ours Uuid::now_v7", |b| {
        b.iter(|| black_box(Uuid::now_v7()));
    });
    let shared = UuidV7Generator::new();
    g.bench_function("ours UuidV7Generator (mutex)", |b| {
        b.iter(|| black_box(shared.next_id()));
    });
    g.bench_function("uuid crate Uuid::now_v7", |b| {
        b.iter(|| black_box(uuid::Uuid::now_v7()));
    });
    g.bench_function("ulid crate Ulid::generate", |b| {
        b.iter(|| black_box(ulid::Ulid::generate()));
    });
    g.finish();
}

fn ulid(c: &mut Criterion) {
    let mut g = c.benchmark_group("ulid");
    g.bench_function("reference: SystemTime::now", |b| {
        b.iter(|| black_box(std::time::SystemTime::now()));
    });
    g.bench_function("ours Ulid::new", |b| b.iter(|| black_box(Ulid::new())));
    let shared = UlidGenerator::new();
    g.bench_function("ours UlidGenerator (mutex)", |b| {
        b.iter(|| black_box(shared.next_id()));
    });
    g.bench_function("ulid crate Ulid::generate", |b| {
        b.iter(|| black_box(ulid::Ulid::generate()));
    });
    let mut theirs = ulid::Generator::new();
    g.bench_function("ulid crate Generator::generate (&mut)", |b| {
        b.iter(|| black_box(theirs.generate().map_err(|_| ())));
    });
    g.finish();
}

fn parse_format(c: &mut Criterion) {
    let mut g = c.benchmark_group("parse_format");
    let ours = Ulid::new();
    let theirs = ulid::Ulid(ours.as_u128());
    let text = ours.to_string();
    g.bench_function("ours Ulid parse", |b| {
        b.iter(|| black_box(text.parse::<Ulid>()));
    });
    g.bench_function("ulid crate Ulid parse", |b| {
        b.iter(|| black_box(text.parse::<ulid::Ulid>()));
    });
    g.bench_function("ours Ulid to_string", |b| {
        b.iter(|| black_box(ours.to_string()));
    });
    g.bench_function("ulid crate Ulid to_string", |b| {
        b.iter(|| black_box(theirs.to_string()));
    });
    let uuid_ours = Uuid::now_v7();
    let uuid_text = uuid_ours.to_string();
    g.bench_function("ours Uuid parse", |b| {
        b.iter(|| black_box(uuid_text.parse::<Uuid>()));
    });
    g.bench_function("uuid crate Uuid parse", |b| {
        b.iter(|| black_box(uuid_text.parse::<uuid::Uuid>()));
    });
    g.finish();
}

fn snowflake(c: &mut Criterion) {
    let mut g = c.benchmark_group("snowflake");
    g.throughput(Throughput::Elements(1));
    let Ok(twitter) = Snowflake::builder().worker_id(1).build() else {
        panic!("default layout")
    };
    g.bench_function("default 41/10/12 (capped at 4.096M/s)", |b| {
        b.iter(|| black_box(twitter.next_id()));
    });
    let Ok(wide) = Snowflake::builder()
        .layout(SnowflakeLayout::new(41, 0, 6, 16))
        .worker_id(1)
        .build()
    else {
        panic!("wide layout")
    };
    g.bench_function("41/6/16 (capped at 65.5M/s)", |b| {
        b.iter(|| black_box(wide.next_id()));
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = uuid_v4, uuid_v7, ulid, parse_format, snowflake
}
criterion_main!(benches);
