//! Noise-resistant timings for a shared machine: each generator runs 300 rounds of 10 000 ids
//! and the fastest round is reported (the criterion benches report means, which a busy machine
//! inflates). A generator capped by its layout (Snowflake 41/10/12: 4 096 ids per millisecond)
//! is left out: a round can straddle three milliseconds and look faster than the cap. Run: `cargo run --release -p core-backend-idgen --example min_timing`.

use std::hint::black_box;
use std::time::{Instant, SystemTime};

use core_backend_idgen::{Snowflake, SnowflakeLayout, Ulid, Uuid};

const ROUNDS: usize = 300;
const PER_ROUND: u32 = 10_000;

type Row = (&'static str, Box<dyn FnMut()>);

/// Nanoseconds per call in the fastest round.
fn fastest_round(f: &mut dyn FnMut()) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..ROUNDS {
        let start = Instant::now();
        for _ in 0..PER_ROUND {
            f();
        }
        best = best.min(start.elapsed().as_nanos() as f64 / f64::from(PER_ROUND));
    }
    best
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let wide = Snowflake::builder()
        .layout(SnowflakeLayout::new(41, 0, 6, 16))
        .build()?;
    let rows: Vec<Row> = vec![
        (
            "SystemTime::now (floor)",
            Box::new(|| _ = black_box(SystemTime::now())),
        ),
        (
            "ours Uuid::new_v4",
            Box::new(|| _ = black_box(Uuid::new_v4())),
        ),
        (
            "uuid Uuid::new_v4",
            Box::new(|| _ = black_box(uuid::Uuid::new_v4())),
        ),
        (
            "ours Uuid::now_v7",
            Box::new(|| _ = black_box(Uuid::now_v7())),
        ),
        (
            "uuid Uuid::now_v7",
            Box::new(|| _ = black_box(uuid::Uuid::now_v7())),
        ),
        ("ours Ulid::new", Box::new(|| _ = black_box(Ulid::new()))),
        (
            "ulid Ulid::generate",
            Box::new(|| _ = black_box(ulid::Ulid::generate())),
        ),
        (
            "ours Snowflake 41/6/16",
            Box::new(move || _ = black_box(wide.next_id())),
        ),
    ];
    for (name, mut f) in rows {
        let ns = fastest_round(f.as_mut());
        println!("{name:26} {ns:7.1} ns  {:6.1} M/s", 1_000.0 / ns);
    }
    Ok(())
}
