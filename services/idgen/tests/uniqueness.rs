//! No duplicates among ids made concurrently by 8 threads.
//!
//! Each test makes `IDGEN_TEST_IDS` ids in total (default 1 000 000, a few seconds in a debug
//! build); the figure is 10 000 000:
//! `IDGEN_TEST_IDS=10000000 cargo nextest run -p core-backend-idgen --release --test uniqueness`.

use std::sync::Arc;
use std::thread;

use core_backend_idgen::{IdGenerator, Snowflake, Ulid, UlidGenerator, Uuid, UuidV7Generator};

const THREADS: usize = 8;

fn total_ids() -> usize {
    std::env::var("IDGEN_TEST_IDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}

/// Runs `make` on 8 threads, checks each thread's ids strictly increase, then that all are unique.
fn assert_unique<T, F>(make: F)
where
    T: Ord + Copy + Send + std::fmt::Debug + 'static,
    F: Fn() -> T + Send + Sync + 'static,
{
    let per_thread = total_ids() / THREADS;
    let make = Arc::new(make);
    let handles: Vec<_> = (0..THREADS)
        .map(|_| {
            let make = Arc::clone(&make);
            thread::spawn(move || {
                let mut ids = Vec::with_capacity(per_thread);
                for _ in 0..per_thread {
                    ids.push(make());
                }
                ids
            })
        })
        .collect();
    let mut all = Vec::with_capacity(per_thread * THREADS);
    for handle in handles {
        let ids = handle.join().expect("generator thread panicked");
        if let Some([a, b]) = ids.windows(2).find(|w| w[0] >= w[1]) {
            panic!("ids of one thread not increasing: {a:?} then {b:?}");
        }
        all.extend(ids);
    }
    let n = all.len();
    assert_eq!(n, per_thread * THREADS);
    all.sort_unstable();
    if let Some([a, _]) = all.windows(2).find(|w| w[0] == w[1]) {
        panic!("duplicate id {a:?} among {n}");
    }
}

#[test]
fn uuid_v7_thread_local_no_duplicates() {
    assert_unique(Uuid::now_v7);
}

#[test]
fn uuid_v7_shared_generator_no_duplicates() {
    let ids = UuidV7Generator::new();
    assert_unique(move || ids.next_id());
}

#[test]
fn ulid_thread_local_no_duplicates() {
    assert_unique(Ulid::new);
}

#[test]
fn ulid_shared_generator_no_duplicates() {
    let ids = UlidGenerator::new();
    assert_unique(move || ids.next_id());
}

#[test]
fn snowflake_shared_generator_no_duplicates() {
    let ids = match Snowflake::builder().worker_id(3).build() {
        Ok(ids) => ids,
        Err(e) => panic!("{e}"),
    };
    assert_unique(move || match ids.generate() {
        Ok(id) => id,
        Err(e) => panic!("{e}"),
    });
}

#[test]
fn uuid_v4_no_duplicates() {
    // v4 ids are not ordered, so only uniqueness is checked.
    let per_thread = total_ids() / THREADS;
    let handles: Vec<_> = (0..THREADS)
        .map(|_| thread::spawn(move || (0..per_thread).map(|_| Uuid::new_v4()).collect::<Vec<_>>()))
        .collect();
    let mut all: Vec<Uuid> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap_or_default())
        .collect();
    let n = all.len();
    assert_eq!(n, per_thread * THREADS);
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), n);
}
