use std::fmt;
use std::time::Duration;

/// One finished call, as a [`LimitAlgorithm`] sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Sample {
    /// Time from `call` to the response (or error).
    pub rtt: Duration,
    /// Calls in flight when this one was admitted, itself included.
    pub in_flight: usize,
    /// Whether the call counted as a drop (see [`ClassifyDrop`](super::ClassifyDrop)).
    pub dropped: bool,
}

impl Sample {
    /// A sample; for testing algorithms and for custom limiters.
    pub const fn new(rtt: Duration, in_flight: usize, dropped: bool) -> Self {
        Self {
            rtt,
            in_flight,
            dropped,
        }
    }
}

/// How the concurrency limit follows the samples of finished calls.
///
/// The [`AdaptiveConcurrency`](super::AdaptiveConcurrency) service calls
/// [`update`](Self::update) once per finished call (under a lock, so an implementation needs no
/// synchronisation of its own) and admits calls while fewer than the returned limit are in
/// flight. This mirrors `Limit` of Netflix's concurrency-limits.
///
/// ```
/// use core_backend_worker::adaptive::{LimitAlgorithm, Sample};
///
/// /// Never adapts: a fixed limit (what a plain bulkhead does).
/// struct Fixed(usize);
///
/// impl LimitAlgorithm for Fixed {
///     fn initial_limit(&self) -> usize {
///         self.0
///     }
///     fn update(&mut self, _sample: &Sample) -> usize {
///         self.0
///     }
/// }
///
/// let mut fixed = Fixed(8);
/// assert_eq!(fixed.update(&Sample::new(std::time::Duration::from_millis(3), 1, false)), 8);
/// # let _: Box<dyn LimitAlgorithm> = Box::new(fixed);
/// ```
pub trait LimitAlgorithm: Send + 'static {
    /// The limit before any sample arrived.
    fn initial_limit(&self) -> usize;

    /// Takes one sample and returns the new limit (at least 1 is used whatever is returned).
    fn update(&mut self, sample: &Sample) -> usize;
}

// Object safety is relied upon by the layer, which stores `Box<dyn LimitAlgorithm>`.
const _: Option<&dyn LimitAlgorithm> = None;

impl LimitAlgorithm for Box<dyn LimitAlgorithm> {
    fn initial_limit(&self) -> usize {
        (**self).initial_limit()
    }

    fn update(&mut self, sample: &Sample) -> usize {
        (**self).update(sample)
    }
}

/// Additive increase, multiplicative decrease (TCP Reno's congestion window, as Netflix's
/// `AIMDLimit`).
///
/// - On a drop, or a call slower than the latency threshold: `limit = limit × backoff_ratio`.
/// - On a success while at least half the limit is in use: `limit = limit + 1`. (When fewer
///   calls are in flight the limit was not what held throughput back, so it does not grow:
///   otherwise an idle service would drift to the maximum.)
/// - Always clamped to `[min_limit, max_limit]`.
///
/// Simple and robust; it needs drops (errors, 503s, timeouts) to find the limit, so it reacts
/// to overload only once the backend already fails.
#[derive(Debug, Clone)]
pub struct Aimd {
    limit: usize,
    min_limit: usize,
    max_limit: usize,
    backoff_ratio: f64,
    latency_threshold: Duration,
}

impl Default for Aimd {
    fn default() -> Self {
        Self::builder().build()
    }
}

/// Builds an [`Aimd`]; from [`Aimd::builder`].
#[derive(Debug, Clone)]
pub struct AimdBuilder(Aimd);

impl Aimd {
    /// A builder: initial limit 20, min 1, max 200, backoff 0.9, latency threshold 5 s.
    pub fn builder() -> AimdBuilder {
        AimdBuilder(Self {
            limit: 20,
            min_limit: 1,
            max_limit: 200,
            backoff_ratio: 0.9,
            latency_threshold: Duration::from_secs(5),
        })
    }

    /// The current limit.
    pub fn limit(&self) -> usize {
        self.limit
    }
}

impl AimdBuilder {
    /// Limit before any sample. Defaults to `20`.
    pub fn initial_limit(mut self, limit: usize) -> Self {
        self.0.limit = limit;
        self
    }

    /// Lowest limit (at least 1). Defaults to `1`.
    pub fn min_limit(mut self, limit: usize) -> Self {
        self.0.min_limit = limit.max(1);
        self
    }

    /// Highest limit. Defaults to `200`.
    pub fn max_limit(mut self, limit: usize) -> Self {
        self.0.max_limit = limit.max(1);
        self
    }

    /// Factor in `(0, 1)` applied on a drop; out-of-range values are clamped to
    /// `[0.5, 0.999]`. Defaults to `0.9`.
    pub fn backoff_ratio(mut self, ratio: f64) -> Self {
        self.0.backoff_ratio = if ratio.is_finite() {
            ratio.clamp(0.5, 0.999)
        } else {
            0.9
        };
        self
    }

    /// A call slower than this counts as a drop. Defaults to 5 seconds.
    pub fn latency_threshold(mut self, threshold: Duration) -> Self {
        self.0.latency_threshold = threshold;
        self
    }

    /// Builds the algorithm.
    pub fn build(mut self) -> Aimd {
        let a = &mut self.0;
        a.max_limit = a.max_limit.max(a.min_limit);
        a.limit = a.limit.clamp(a.min_limit, a.max_limit);
        self.0
    }
}

impl LimitAlgorithm for Aimd {
    fn initial_limit(&self) -> usize {
        self.limit
    }

    fn update(&mut self, sample: &Sample) -> usize {
        if sample.dropped || sample.rtt > self.latency_threshold {
            self.limit = (self.limit as f64 * self.backoff_ratio) as usize;
        } else if sample.in_flight * 2 >= self.limit {
            self.limit += 1;
        }
        self.limit = self.limit.clamp(self.min_limit, self.max_limit);
        self.limit
    }
}

/// Netflix's `Gradient2Limit`: the limit follows the ratio of the long-term average RTT to
/// the current RTT.
///
/// Each sample:
///
/// 1. `long_rtt` is an exponential moving average over `long_window` samples (a plain average
///    over the first 10); if it is more than twice the sample's RTT it decays by 5 % at once, so
///    the algorithm recovers quickly after a long overload.
/// 2. If fewer than half the limit are in flight, the limit stays (the service is not
///    limited by concurrency, so the samples say nothing about the limit).
/// 3. `gradient = clamp(rtt_tolerance × long_rtt / rtt, 0.5, 1.0)`: 1.0 while latency is within
///    tolerance, smaller as queueing makes the current RTT grow; never below 0.5 so one outlier
///    cannot halve the limit.
/// 4. `new = limit × gradient + queue_size`, then smoothed:
///    `limit = limit × (1 − smoothing) + new × smoothing`, clamped to `[min_limit, max_limit]`.
///
/// At steady latency the limit therefore grows by `queue_size × smoothing` per sample until
/// latency rises, and shrinks geometrically while latency stays above tolerance. Unlike
/// [`Aimd`] it reacts to queueing before anything fails. Drops do not enter the formula
/// (as in the original); combine with a timeout so a hung backend produces RTT samples.
#[derive(Debug, Clone)]
pub struct Gradient2 {
    estimated_limit: f64,
    min_limit: usize,
    max_limit: usize,
    rtt_tolerance: f64,
    smoothing: f64,
    queue_size: usize,
    long_rtt: ExpAvg,
}

/// Builds a [`Gradient2`]; from [`Gradient2::builder`].
#[derive(Debug, Clone)]
pub struct Gradient2Builder(Gradient2);

impl Default for Gradient2 {
    fn default() -> Self {
        Self::builder().build()
    }
}

impl Gradient2 {
    /// A builder: initial limit 20, min 1, max 200, tolerance 1.5, smoothing 0.2, long window
    /// 600 samples, queue size 4.
    pub fn builder() -> Gradient2Builder {
        Gradient2Builder(Self {
            estimated_limit: 20.0,
            min_limit: 1,
            max_limit: 200,
            rtt_tolerance: 1.5,
            smoothing: 0.2,
            queue_size: 4,
            long_rtt: ExpAvg::new(600, 10),
        })
    }

    /// The current (fractional) limit estimate.
    pub fn estimated_limit(&self) -> f64 {
        self.estimated_limit
    }
}

impl Gradient2Builder {
    /// Limit before any sample. Defaults to `20`.
    pub fn initial_limit(mut self, limit: usize) -> Self {
        self.0.estimated_limit = limit as f64;
        self
    }

    /// Lowest limit (at least 1). Defaults to `1`.
    pub fn min_limit(mut self, limit: usize) -> Self {
        self.0.min_limit = limit.max(1);
        self
    }

    /// Highest limit. Defaults to `200`.
    pub fn max_limit(mut self, limit: usize) -> Self {
        self.0.max_limit = limit.max(1);
        self
    }

    /// How much slower than the long-term RTT a call may be before the limit shrinks
    /// (at least 1.0). Defaults to `1.5`.
    pub fn rtt_tolerance(mut self, tolerance: f64) -> Self {
        self.0.rtt_tolerance = if tolerance.is_finite() {
            tolerance.max(1.0)
        } else {
            1.5
        };
        self
    }

    /// Weight of a new estimate, in `(0, 1]`. Defaults to `0.2`.
    pub fn smoothing(mut self, smoothing: f64) -> Self {
        self.0.smoothing = if smoothing.is_finite() {
            smoothing.clamp(0.01, 1.0)
        } else {
            0.2
        };
        self
    }

    /// Samples the long-term RTT average spans. Defaults to `600`.
    pub fn long_window(mut self, samples: usize) -> Self {
        self.0.long_rtt = ExpAvg::new(samples.max(1), 10);
        self
    }

    /// Calls allowed to queue above the estimated limit; the limit's growth step is
    /// `queue_size × smoothing`. Defaults to `4`.
    pub fn queue_size(mut self, queue_size: usize) -> Self {
        self.0.queue_size = queue_size;
        self
    }

    /// Builds the algorithm.
    pub fn build(mut self) -> Gradient2 {
        let g = &mut self.0;
        g.max_limit = g.max_limit.max(g.min_limit);
        g.estimated_limit = g
            .estimated_limit
            .clamp(g.min_limit as f64, g.max_limit as f64);
        self.0
    }
}

impl LimitAlgorithm for Gradient2 {
    fn initial_limit(&self) -> usize {
        self.estimated_limit as usize
    }

    fn update(&mut self, sample: &Sample) -> usize {
        // A zero RTT (clock granularity) would make the ratio infinite.
        let short = sample.rtt.as_secs_f64().max(1e-9);
        let long = self.long_rtt.add(short);
        if long / short > 2.0 {
            self.long_rtt.value *= 0.95;
        }
        if (sample.in_flight as f64) < self.estimated_limit / 2.0 {
            return self.estimated_limit as usize;
        }
        let gradient = (self.rtt_tolerance * long / short).clamp(0.5, 1.0);
        let new_limit = self.estimated_limit * gradient + self.queue_size as f64;
        let smoothed = self.estimated_limit * (1.0 - self.smoothing) + new_limit * self.smoothing;
        self.estimated_limit = smoothed.clamp(self.min_limit as f64, self.max_limit as f64);
        self.estimated_limit as usize
    }
}

/// Exponential moving average with a plain-average warm-up (Netflix `ExpAvgMeasurement`).
#[derive(Clone)]
struct ExpAvg {
    value: f64,
    sum: f64,
    count: usize,
    window: usize,
    warmup: usize,
}

impl fmt::Debug for ExpAvg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExpAvg")
            .field("value", &self.value)
            .field("window", &self.window)
            .finish()
    }
}

impl ExpAvg {
    fn new(window: usize, warmup: usize) -> Self {
        Self {
            value: 0.0,
            sum: 0.0,
            count: 0,
            window,
            warmup: warmup.min(window),
        }
    }

    fn add(&mut self, sample: f64) -> f64 {
        if self.count < self.warmup {
            self.count += 1;
            self.sum += sample;
            self.value = self.sum / self.count as f64;
        } else {
            let factor = 2.0 / (self.window as f64 + 1.0);
            self.value = self.value * (1.0 - factor) + sample * factor;
        }
        self.value
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::ignored_unit_patterns)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn aimd_grows_by_one_and_backs_off() {
        let mut a = Aimd::builder().initial_limit(10).max_limit(15).build();
        let limits: Vec<_> = (0..8)
            .map(|_| a.update(&Sample::new(10 * MS, 10, false)))
            .collect();
        assert_eq!(limits, vec![11, 12, 13, 14, 15, 15, 15, 15]);
        assert_eq!(a.update(&Sample::new(10 * MS, 10, true)), 13); // 15 × 0.9 = 13.5
        assert_eq!(a.update(&Sample::new(10 * MS, 10, true)), 11); // 13 × 0.9 = 11.7
    }

    #[test]
    fn aimd_latency_over_threshold_is_a_drop_and_respects_min() {
        let mut a = Aimd::builder()
            .initial_limit(4)
            .min_limit(3)
            .latency_threshold(100 * MS)
            .backoff_ratio(0.5)
            .build();
        assert_eq!(a.update(&Sample::new(150 * MS, 4, false)), 3);
        assert_eq!(a.update(&Sample::new(150 * MS, 4, false)), 3);
        assert_eq!(a.limit(), 3);
    }

    #[test]
    fn aimd_does_not_grow_when_app_limited() {
        let mut a = Aimd::builder().initial_limit(10).build();
        for _ in 0..100 {
            assert_eq!(a.update(&Sample::new(MS, 2, false)), 10);
        }
    }

    #[test]
    fn gradient2_grows_at_steady_latency_and_shrinks_under_queueing() {
        let mut g = Gradient2::builder()
            .initial_limit(10)
            .max_limit(100)
            .long_window(100)
            .build();
        // Steady 10 ms with the limit fully used: grows by queue_size × smoothing = 0.8.
        let mut limit = 10;
        for _ in 0..20 {
            limit = g.update(&Sample::new(10 * MS, limit, false));
        }
        assert!(
            (g.estimated_limit() - 26.0).abs() < 1e-6,
            "{}",
            g.estimated_limit()
        );
        assert!((25..=26).contains(&limit));

        // Latency jumps to 50 ms (queueing): the gradient drops to 0.5 and the limit shrinks
        // until the long-term average catches up.
        let mut trajectory = Vec::new();
        for _ in 0..20 {
            limit = g.update(&Sample::new(50 * MS, limit, false));
            trajectory.push(limit);
        }
        assert!(
            trajectory.windows(2).all(|w| w[1] <= w[0]),
            "{trajectory:?}"
        );
        assert!(limit <= 13, "{trajectory:?}");

        // Latency back to normal: growth resumes.
        let before = limit;
        for _ in 0..30 {
            limit = g.update(&Sample::new(10 * MS, limit, false));
        }
        assert!(limit > before + 10, "{before} -> {limit}");
    }

    #[test]
    fn gradient2_holds_when_app_limited_and_clamps() {
        let mut g = Gradient2::builder()
            .initial_limit(40)
            .min_limit(15)
            .max_limit(50)
            .build();
        for _ in 0..50 {
            assert_eq!(g.update(&Sample::new(10 * MS, 3, false)), 40);
        }
        for _ in 0..200 {
            g.update(&Sample::new(10 * MS, 50, false));
        }
        assert_eq!(g.update(&Sample::new(10 * MS, 50, false)), 50);
        for _ in 0..200 {
            g.update(&Sample::new(Duration::from_secs(10), 50, false));
        }
        // Sustained queueing would settle near 13; the minimum holds it at 15.
        assert_eq!(
            g.update(&Sample::new(Duration::from_secs(10), 50, false)),
            15
        );
        // A zero RTT does not divide by zero.
        assert_eq!(g.update(&Sample::new(Duration::ZERO, 50, false)), 15);
    }

    #[test]
    fn exp_avg_warms_up_then_smooths() {
        let mut e = ExpAvg::new(3, 2);
        assert!((e.add(2.0) - 2.0).abs() < 1e-12);
        assert!((e.add(4.0) - 3.0).abs() < 1e-12);
        assert!((e.add(5.0) - 4.0).abs() < 1e-12); // factor 0.5
        assert!(format!("{e:?}").contains("window"));
    }

    #[test]
    fn boxed_algorithm_delegates() {
        let mut b: Box<dyn LimitAlgorithm> = Box::new(Aimd::builder().initial_limit(7).build());
        assert_eq!(b.initial_limit(), 7);
        assert_eq!(b.update(&Sample::new(MS, 7, false)), 8);
    }
}
