//! The breaker's state machine: [`CircuitBreaker`], [`Permit`], [`State`].

use std::{
    fmt,
    sync::{
        Arc,
        atomic::{AtomicU32, AtomicU64, Ordering},
    },
    time::Duration,
};

use parking_lot::Mutex;
use tokio::{sync::broadcast, time::Instant};

use crate::{
    CircuitBreakerConfig, CircuitOpen, SlidingWindowType,
    event::{StateTransition, TransitionListener},
    window::{FAILED, SLOW, Snapshot, Window},
};

/// A breaker state, as in resilience4j.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum State {
    /// Calls flow; outcomes are recorded; rates above threshold open the breaker.
    Closed,
    /// Calls are refused until the open wait has passed, then the breaker turns half-open.
    Open,
    /// A limited number of probe calls is admitted; their outcomes close or re-open it.
    HalfOpen,
    /// Calls flow, nothing is recorded (manual).
    Disabled,
    /// Calls are refused until another manual transition (manual).
    ForcedOpen,
    /// Calls flow and are recorded for metrics, but the breaker never opens (manual).
    MetricsOnly,
}

impl State {
    const ALL: [State; 6] = [
        State::Closed,
        State::Open,
        State::HalfOpen,
        State::Disabled,
        State::ForcedOpen,
        State::MetricsOnly,
    ];

    fn code(self) -> u64 {
        match self {
            State::Closed => 0,
            State::Open => 1,
            State::HalfOpen => 2,
            State::Disabled => 3,
            State::ForcedOpen => 4,
            State::MetricsOnly => 5,
        }
    }

    fn from_code(code: u64) -> State {
        State::ALL
            .get(usize::try_from(code).unwrap_or(0))
            .copied()
            .unwrap_or(State::Closed)
    }

    /// The state's name in resilience4j's spelling (`CLOSED`, `HALF_OPEN`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            State::Closed => "CLOSED",
            State::Open => "OPEN",
            State::HalfOpen => "HALF_OPEN",
            State::Disabled => "DISABLED",
            State::ForcedOpen => "FORCED_OPEN",
            State::MetricsOnly => "METRICS_ONLY",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a call's result means to the breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// Counts as a success (may still be slow).
    Success,
    /// Counts as a failure.
    Failure,
    /// Not counted at all (e.g. a client error, or a cancelled call).
    Ignored,
}

// The state word: | epoch: 32 | probes admitted: 24 | state: 8 |. Every transition bumps the
// epoch, so permits and results from an earlier state can be recognised and dropped.
const STATE_MASK: u64 = 0xff;
const ISSUED_ONE: u64 = 1 << 8;
const ISSUED_MASK: u64 = 0x00ff_ffff << 8;

fn pack(epoch: u32, issued: u64, state: State) -> u64 {
    (u64::from(epoch) << 32) | (issued << 8) | state.code()
}
fn epoch_of(word: u64) -> u32 {
    (word >> 32) as u32
}
fn state_of(word: u64) -> State {
    State::from_code(word & STATE_MASK)
}
fn issued_of(word: u64) -> u64 {
    (word & ISSUED_MASK) >> 8
}

// The half-open result word: | epoch: 32 | done: 10 | failed: 10 | slow: 10 |.
const FIELD: u64 = 0x3ff;
const MAX_PROBES: u32 = 1023;

struct Instruments {
    success: metrics::Counter,
    failure: metrics::Counter,
    slow_success: metrics::Counter,
    slow_failure: metrics::Counter,
    ignored: metrics::Counter,
    rejected: metrics::Counter,
    state: metrics::Gauge,
}

impl Instruments {
    fn new(name: &Arc<str>) -> Self {
        let calls = |outcome: &'static str| metrics::counter!("core_backend.circuitbreaker.calls", "name" => name.to_string(), "outcome" => outcome);
        Self {
            success: calls("success"),
            failure: calls("failure"),
            slow_success: calls("slow_success"),
            slow_failure: calls("slow_failure"),
            ignored: calls("ignored"),
            rejected: calls("rejected"),
            state: metrics::gauge!("core_backend.circuitbreaker.state", "name" => name.to_string()),
        }
    }
}

pub(crate) struct Settings {
    failure_rate: f64,
    slow_rate: f64,
    slow_call: Duration,
    minimum_calls: u64,
    wait: Duration,
    wait_multiplier: f64,
    max_wait: Duration,
    probes: u32,
}

struct Inner {
    name: Arc<str>,
    word: AtomicU64,
    probe_results: AtomicU64,
    opened_at: AtomicU64,
    open_wait: AtomicU64,
    consecutive_opens: AtomicU32,
    window: Window,
    settings: Settings,
    origin: Instant,
    transition: Mutex<()>,
    events: broadcast::Sender<StateTransition>,
    listeners: Vec<Arc<dyn TransitionListener>>,
    instruments: Instruments,
}

/// A circuit breaker: cheap to clone (an `Arc`), shared by every clone of the service it
/// guards, and a handle for manual transitions, metrics and events.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use core_backend_circuitbreaker::{CircuitBreaker, Outcome, State};
///
/// let breaker = CircuitBreaker::builder()
///     .minimum_number_of_calls(2)
///     .failure_rate_threshold(50.0)
///     .build();
/// for _ in 0..2 {
///     breaker.try_acquire().unwrap().record(Outcome::Failure);
/// }
/// assert_eq!(breaker.state(), State::Open);
/// let open = breaker.try_acquire().unwrap_err();
/// assert!(open.retry_after.as_secs() > 0);
/// breaker.transition_to_closed();
/// assert!(breaker.try_acquire().is_ok());
/// # }
/// ```
#[derive(Clone)]
pub struct CircuitBreaker {
    inner: Arc<Inner>,
}

impl fmt::Debug for CircuitBreaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreaker")
            .field("name", &self.inner.name)
            .field("state", &self.state())
            .finish()
    }
}

/// Failure and slow-call figures of a breaker's current window.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct Metrics {
    /// The state.
    pub state: State,
    /// Calls in the window.
    pub calls: u64,
    /// Failed calls in the window.
    pub failed_calls: u64,
    /// Slow calls in the window.
    pub slow_calls: u64,
    /// Failure rate in percent, or `None` below the minimum number of calls.
    pub failure_rate: Option<f64>,
    /// Slow-call rate in percent, or `None` below the minimum number of calls.
    pub slow_call_rate: Option<f64>,
}

impl CircuitBreaker {
    /// A builder with resilience4j's defaults.
    pub fn builder() -> crate::CircuitBreakerBuilder {
        crate::CircuitBreakerBuilder::new()
    }

    /// A breaker from `config`.
    pub fn from_config(config: &CircuitBreakerConfig) -> Self {
        Self::with_listeners(config, Vec::new())
    }

    pub(crate) fn with_listeners(
        config: &CircuitBreakerConfig,
        listeners: Vec<Arc<dyn TransitionListener>>,
    ) -> Self {
        let pct = |v: f32| {
            if v.is_finite() {
                f64::from(v.clamp(0.0, 100.0))
            } else {
                100.0
            }
        };
        let window_size = config.sliding_window_size.max(1);
        let window = match config.sliding_window_type {
            SlidingWindowType::CountBased => Window::count(window_size),
            SlidingWindowType::TimeBased => Window::time(window_size),
        };
        let minimum = match config.sliding_window_type {
            SlidingWindowType::CountBased => config.minimum_number_of_calls.min(window_size),
            SlidingWindowType::TimeBased => config.minimum_number_of_calls,
        }
        .max(1);
        let name: Arc<str> = Arc::from(config.name.as_str());
        let (events, _) = broadcast::channel(64);
        let instruments = Instruments::new(&name);
        instruments.state.set(0.0);
        Self {
            inner: Arc::new(Inner {
                word: AtomicU64::new(pack(0, 0, State::Closed)),
                probe_results: AtomicU64::new(0),
                opened_at: AtomicU64::new(0),
                open_wait: AtomicU64::new(0),
                consecutive_opens: AtomicU32::new(0),
                window,
                settings: Settings {
                    failure_rate: pct(config.failure_rate_threshold),
                    slow_rate: pct(config.slow_call_rate_threshold),
                    slow_call: config.slow_call_duration,
                    minimum_calls: u64::from(minimum),
                    wait: config.wait_duration_in_open,
                    wait_multiplier: if config.wait_duration_multiplier >= 1.0 {
                        config.wait_duration_multiplier
                    } else {
                        1.0
                    },
                    max_wait: config
                        .max_wait_duration_in_open
                        .max(config.wait_duration_in_open),
                    probes: config.permitted_calls_in_half_open.clamp(1, MAX_PROBES),
                },
                origin: Instant::now(),
                transition: Mutex::new(()),
                events,
                listeners,
                instruments,
                name,
            }),
        }
    }

    /// The breaker's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The current state. An open breaker whose wait has passed turns half-open here (and
    /// on the next admission): the transition needs no timer task.
    pub fn state(&self) -> State {
        let word = self.inner.word.load(Ordering::Acquire);
        let state = state_of(word);
        if state == State::Open && self.open_remaining().is_none() {
            self.transition(Some(epoch_of(word)), State::HalfOpen);
            return state_of(self.inner.word.load(Ordering::Acquire));
        }
        state
    }

    /// Receives every state transition from now on (lagging receivers lose the oldest).
    pub fn subscribe(&self) -> broadcast::Receiver<StateTransition> {
        self.inner.events.subscribe()
    }

    /// Figures of the current window.
    pub fn metrics(&self) -> Metrics {
        let s = self.snapshot();
        let enough = s.calls >= self.inner.settings.minimum_calls;
        let rate = |n: u64| enough.then(|| n as f64 * 100.0 / s.calls as f64);
        Metrics {
            state: self.state(),
            calls: s.calls,
            failed_calls: s.failures,
            slow_calls: s.slow,
            failure_rate: rate(s.failures),
            slow_call_rate: rate(s.slow),
        }
    }

    /// Asks to make one call. `Err` when the breaker refuses it; otherwise the returned
    /// [`Permit`] must receive the call's [`Outcome`] (dropping it unrecorded counts as
    /// "not called" and frees a half-open probe slot).
    #[inline]
    pub fn try_acquire(&self) -> Result<Permit, CircuitOpen> {
        let inner = &*self.inner;
        loop {
            let word = inner.word.load(Ordering::Acquire);
            match state_of(word) {
                State::Closed | State::MetricsOnly | State::Disabled => {
                    return Ok(self.permit(epoch_of(word), false));
                }
                State::Open => match self.open_remaining() {
                    Some(remaining) => return Err(self.reject(State::Open, remaining)),
                    None => {
                        self.transition(Some(epoch_of(word)), State::HalfOpen);
                    }
                },
                State::ForcedOpen => {
                    return Err(self.reject(State::ForcedOpen, inner.settings.wait));
                }
                State::HalfOpen => {
                    if issued_of(word) >= u64::from(inner.settings.probes) {
                        let soon = inner.settings.wait.min(Duration::from_secs(1));
                        return Err(self.reject(State::HalfOpen, soon));
                    }
                    if inner
                        .word
                        .compare_exchange_weak(
                            word,
                            word + ISSUED_ONE,
                            Ordering::AcqRel,
                            Ordering::Acquire,
                        )
                        .is_ok()
                    {
                        return Ok(self.permit(epoch_of(word), true));
                    }
                }
            }
        }
    }

    #[inline]
    fn permit(&self, epoch: u32, probe: bool) -> Permit {
        Permit {
            breaker: self.clone(),
            epoch,
            probe,
            start: quanta::Instant::now(),
            done: false,
        }
    }

    #[cold]
    fn reject(&self, state: State, retry_after: Duration) -> CircuitOpen {
        self.inner.instruments.rejected.increment(1);
        CircuitOpen {
            name: Arc::clone(&self.inner.name),
            state,
            retry_after,
        }
    }

    fn now_nanos(&self) -> u64 {
        u64::try_from(self.inner.origin.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// Time left in the open state, `None` once it has passed.
    fn open_remaining(&self) -> Option<Duration> {
        let until = self
            .inner
            .opened_at
            .load(Ordering::Acquire)
            .saturating_add(self.inner.open_wait.load(Ordering::Acquire));
        let now = self.now_nanos();
        (now < until).then(|| Duration::from_nanos(until - now))
    }

    fn snapshot(&self) -> Snapshot {
        self.inner.window.snapshot(self.now_nanos() / 1_000_000_000)
    }

    #[inline]
    fn on_result(&self, epoch: u32, probe: bool, outcome: Outcome, elapsed: Duration) {
        let inner = &*self.inner;
        let slow = elapsed >= inner.settings.slow_call;
        let mask = match (outcome, slow) {
            (Outcome::Ignored, _) => {
                inner.instruments.ignored.increment(1);
                if probe {
                    self.release(epoch);
                }
                return;
            }
            (Outcome::Success, false) => {
                inner.instruments.success.increment(1);
                0
            }
            (Outcome::Success, true) => {
                inner.instruments.slow_success.increment(1);
                SLOW
            }
            (Outcome::Failure, false) => {
                inner.instruments.failure.increment(1);
                FAILED
            }
            (Outcome::Failure, true) => {
                inner.instruments.slow_failure.increment(1);
                FAILED | SLOW
            }
        };
        let word = inner.word.load(Ordering::Acquire);
        if epoch_of(word) != epoch {
            // The breaker changed state since this call was admitted.
            return;
        }
        match (state_of(word), probe) {
            (State::Closed | State::MetricsOnly, false) => {
                let now_sec = if matches!(inner.window, Window::Time(_)) {
                    self.now_nanos() / 1_000_000_000
                } else {
                    0
                };
                if inner.window.record(mask, now_sec) && state_of(word) == State::Closed {
                    let s = inner.window.snapshot(now_sec);
                    if self.exceeds(s) {
                        self.transition(Some(epoch), State::Open);
                    }
                }
            }
            (State::HalfOpen, true) => self.record_probe(epoch, mask),
            _ => {}
        }
    }

    fn exceeds(&self, s: Snapshot) -> bool {
        let st = &self.inner.settings;
        if s.calls < st.minimum_calls || s.calls == 0 {
            return false;
        }
        let calls = s.calls as f64;
        s.failures as f64 * 100.0 / calls >= st.failure_rate
            || s.slow as f64 * 100.0 / calls >= st.slow_rate
    }

    fn record_probe(&self, epoch: u32, mask: u8) {
        let inner = &*self.inner;
        let add =
            (1 << 20) | if mask & FAILED != 0 { 1 << 10 } else { 0 } | u64::from(mask & SLOW != 0);
        let Ok(prev) = inner
            .probe_results
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |w| {
                (epoch_of(w) == epoch).then_some(w + add)
            })
        else {
            return;
        };
        let now = prev + add;
        let done = (now >> 20) & FIELD;
        if done < u64::from(inner.settings.probes) {
            return;
        }
        let s = Snapshot {
            calls: done,
            failures: (now >> 10) & FIELD,
            slow: now & FIELD,
        };
        let st = &inner.settings;
        let calls = s.calls as f64;
        let bad = s.failures as f64 * 100.0 / calls >= st.failure_rate
            || s.slow as f64 * 100.0 / calls >= st.slow_rate;
        self.transition(Some(epoch), if bad { State::Open } else { State::Closed });
    }

    /// Frees a half-open probe slot whose call never produced a counted result.
    fn release(&self, epoch: u32) {
        let _ = self
            .inner
            .word
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |w| {
                (epoch_of(w) == epoch && state_of(w) == State::HalfOpen && issued_of(w) > 0)
                    .then(|| w - ISSUED_ONE)
            });
    }

    /// Moves to `to` if the epoch is still `expected` (or unconditionally for `None`).
    /// Returns whether this call made the transition.
    fn transition(&self, expected: Option<u32>, to: State) -> bool {
        let inner = &*self.inner;
        let guard = inner.transition.lock();
        let word = inner.word.load(Ordering::Acquire);
        let from = state_of(word);
        if expected.is_some_and(|e| e != epoch_of(word)) || (from == to && expected.is_some()) {
            return false;
        }
        let epoch = epoch_of(word).wrapping_add(1);
        match to {
            State::Open => {
                let n = inner.consecutive_opens.fetch_add(1, Ordering::AcqRel);
                let st = &inner.settings;
                let factor = st.wait_multiplier.powi(n.min(64) as i32);
                let wait = Duration::try_from_secs_f64(st.wait.as_secs_f64() * factor)
                    .unwrap_or(st.max_wait)
                    .min(st.max_wait);
                inner.open_wait.store(
                    u64::try_from(wait.as_nanos()).unwrap_or(u64::MAX),
                    Ordering::Release,
                );
                inner.opened_at.store(self.now_nanos(), Ordering::Release);
            }
            State::HalfOpen => {
                inner
                    .probe_results
                    .store(u64::from(epoch) << 32, Ordering::Release);
            }
            State::Closed => {
                inner.consecutive_opens.store(0, Ordering::Release);
                inner.window.reset();
            }
            State::Disabled | State::ForcedOpen | State::MetricsOnly => inner.window.reset(),
        }
        inner.word.store(pack(epoch, 0, to), Ordering::Release);
        drop(guard);
        self.announce(from, to);
        true
    }

    #[cold]
    fn announce(&self, from: State, to: State) {
        let inner = &*self.inner;
        inner.instruments.state.set(to.code() as f64);
        metrics::counter!(
            "core_backend.circuitbreaker.transitions",
            "name" => inner.name.to_string(),
            "from" => from.as_str(),
            "to" => to.as_str()
        )
        .increment(1);
        if to == State::Open || to == State::ForcedOpen {
            tracing::warn!(breaker = %inner.name, %from, %to, "circuit breaker opened");
        } else {
            tracing::info!(breaker = %inner.name, %from, %to, "circuit breaker state change");
        }
        let event = StateTransition {
            name: Arc::clone(&inner.name),
            from,
            to,
        };
        for l in &inner.listeners {
            l.on_transition(&event);
        }
        let _ = inner.events.send(event);
    }

    /// Closes the breaker (clearing its window).
    pub fn transition_to_closed(&self) {
        self.transition(None, State::Closed);
    }
    /// Opens the breaker for the configured wait (then half-open as usual).
    pub fn transition_to_open(&self) {
        self.transition(None, State::Open);
    }
    /// Moves to half-open: the next `permitted_calls_in_half_open` calls are probes.
    pub fn transition_to_half_open(&self) {
        self.transition(None, State::HalfOpen);
    }
    /// Lets every call through and records nothing, until another manual transition.
    pub fn transition_to_disabled(&self) {
        self.transition(None, State::Disabled);
    }
    /// Refuses every call, until another manual transition.
    pub fn transition_to_forced_open(&self) {
        self.transition(None, State::ForcedOpen);
    }
    /// Records calls for metrics but never opens, until another manual transition.
    pub fn transition_to_metrics_only(&self) {
        self.transition(None, State::MetricsOnly);
    }
    /// Back to a fresh `CLOSED` breaker (window cleared, open wait back to its base).
    pub fn reset(&self) {
        self.transition(None, State::Closed);
    }
}

/// Permission to make one call, from [`CircuitBreaker::try_acquire`].
///
/// Record the call's outcome with [`record`](Self::record). Dropping a permit unrecorded (the
/// call was cancelled or never made) records nothing and frees its half-open probe slot.
#[must_use = "record the call's outcome, or drop the permit if the call was not made"]
pub struct Permit {
    breaker: CircuitBreaker,
    epoch: u32,
    probe: bool,
    // A TSC clock (quanta; it falls back to the OS clock where the TSC is not reliable): the
    // two reads per call are the largest part of the hot path, and `std`'s clock costs twice
    // as much on virtual machines. Not tokio's: with its `test-util` feature (often unified
    // into test and bench builds) `tokio::time::Instant::now` takes a mutex.
    start: quanta::Instant,
    done: bool,
}

impl fmt::Debug for Permit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("breaker", &self.breaker.inner.name)
            .field("probe", &self.probe)
            .finish()
    }
}

impl Permit {
    /// Whether this permit is one of the half-open probes.
    pub fn is_probe(&self) -> bool {
        self.probe
    }

    /// Records the call's outcome; its duration (since the permit was issued) decides
    /// whether it was slow.
    #[inline]
    pub fn record(self, outcome: Outcome) {
        let elapsed = self.start.elapsed();
        self.record_elapsed(outcome, elapsed);
    }

    /// Records the call's outcome with a duration measured by the caller (e.g. excluding
    /// time spent queued before the call).
    #[inline]
    pub fn record_elapsed(mut self, outcome: Outcome, elapsed: Duration) {
        self.done = true;
        self.breaker
            .on_result(self.epoch, self.probe, outcome, elapsed);
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if !self.done && self.probe {
            self.breaker.release(self.epoch);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;
    use proptest::prelude::*;
    use tokio::time::advance;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    fn small() -> crate::CircuitBreakerBuilder {
        CircuitBreaker::builder()
            .count_based_window(4)
            .minimum_number_of_calls(4)
            .failure_rate_threshold(50.0)
            .wait_duration_in_open(secs(10))
            .permitted_calls_in_half_open(2)
    }

    fn calls(b: &CircuitBreaker, outcomes: &[Outcome]) {
        for o in outcomes {
            b.try_acquire().unwrap().record(*o);
        }
    }

    use Outcome::{Failure as F, Ignored as I, Success as S};

    #[tokio::test(start_paused = true)]
    async fn closed_opens_at_failure_rate_after_minimum_calls() {
        let b = small().build();
        calls(&b, &[F, F, S]);
        assert_eq!(b.state(), State::Closed, "below minimum number of calls");
        assert_eq!(b.metrics().failure_rate, None);
        calls(&b, &[S]);
        assert_eq!(
            b.state(),
            State::Open,
            "2 of 4 = 50 % once the minimum is reached"
        );
        let open = b.try_acquire().unwrap_err();
        assert_eq!((open.state, open.retry_after), (State::Open, secs(10)));
        assert_eq!(&*open.name, "default");
    }

    #[tokio::test(start_paused = true)]
    async fn successes_keep_it_closed() {
        let b = small().build();
        calls(&b, &[F, S, S, S, F, S, S, S]);
        assert_eq!(b.state(), State::Closed);
        let m = b.metrics();
        assert_eq!((m.calls, m.failed_calls), (4, 1));
        assert_eq!(m.failure_rate, Some(25.0));
    }

    #[tokio::test(start_paused = true)]
    async fn slow_calls_open_it() {
        let b = small()
            .slow_call_duration(Duration::from_millis(100))
            .slow_call_rate_threshold(75.0)
            .build();
        for ms in [10, 150, 100, 3000] {
            b.try_acquire()
                .unwrap()
                .record_elapsed(S, Duration::from_millis(ms));
        }
        assert_eq!(b.state(), State::Open);
        let m = b.metrics();
        assert_eq!(
            (m.slow_calls, m.slow_call_rate),
            (3, Some(75.0)),
            "kept while open"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn open_turns_half_open_after_wait_then_closes() {
        let b = small().build();
        calls(&b, &[F, F, F, F]);
        assert_eq!(b.state(), State::Open);
        advance(secs(4)).await;
        assert_eq!(b.try_acquire().unwrap_err().retry_after, secs(6));
        advance(secs(6)).await;
        assert_eq!(b.state(), State::HalfOpen, "automatic, no call needed");
        let p1 = b.try_acquire().unwrap();
        let p2 = b.try_acquire().unwrap();
        assert!(p1.is_probe() && p2.is_probe());
        let busy = b.try_acquire().unwrap_err();
        assert_eq!((busy.state, busy.retry_after), (State::HalfOpen, secs(1)));
        p1.record(S);
        assert_eq!(b.state(), State::HalfOpen);
        p2.record(S);
        assert_eq!(b.state(), State::Closed);
        assert_eq!(b.metrics().calls, 0, "fresh window");
    }

    #[tokio::test(start_paused = true)]
    async fn failing_probes_reopen_with_growing_wait() {
        let b = small().exponential_wait(2.0, secs(25)).build();
        calls(&b, &[F, F, F, F]);
        for expected in [10, 20, 25, 25] {
            assert_eq!(b.try_acquire().unwrap_err().retry_after, secs(expected));
            advance(secs(expected)).await;
            calls(&b, &[S, F]); // 50 % of probes failed
            assert_eq!(b.state(), State::Open);
        }
        advance(secs(25)).await;
        calls(&b, &[S, S]);
        assert_eq!(b.state(), State::Closed);
        calls(&b, &[F, F, F, F]);
        assert_eq!(
            b.try_acquire().unwrap_err().retry_after,
            secs(10),
            "growth reset on close"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn unused_probe_permits_are_given_back() {
        let b = small().build();
        b.transition_to_half_open();
        let p1 = b.try_acquire().unwrap();
        let p2 = b.try_acquire().unwrap();
        assert!(b.try_acquire().is_err());
        drop(p1);
        let p3 = b.try_acquire().unwrap();
        p2.record(I);
        let p4 = b.try_acquire().unwrap();
        assert!(b.try_acquire().is_err());
        p3.record(S);
        p4.record(S);
        assert_eq!(b.state(), State::Closed);
    }

    #[tokio::test(start_paused = true)]
    async fn manual_states() {
        let b = small().build();
        b.transition_to_disabled();
        calls(&b, &[F; 8]);
        assert_eq!(b.state(), State::Disabled);
        assert_eq!(b.metrics().calls, 0, "disabled records nothing");

        b.transition_to_metrics_only();
        calls(&b, &[F; 8]);
        assert_eq!(b.state(), State::MetricsOnly);
        assert_eq!(b.metrics().failure_rate, Some(100.0));

        b.transition_to_forced_open();
        let e = b.try_acquire().unwrap_err();
        assert_eq!((e.state, e.retry_after), (State::ForcedOpen, secs(10)));
        advance(secs(3600)).await;
        assert_eq!(b.state(), State::ForcedOpen, "stays until told otherwise");

        b.transition_to_open();
        assert_eq!(b.state(), State::Open);
        b.reset();
        assert_eq!(b.state(), State::Closed);
        calls(&b, &[S]);
        assert_eq!(b.metrics().calls, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn stale_results_are_dropped() {
        let b = small().build();
        let p = b.try_acquire().unwrap();
        b.transition_to_half_open();
        p.record(F);
        let probe = b.try_acquire().unwrap();
        b.transition_to_closed();
        drop(probe); // releasing a probe of an older epoch does nothing
        assert_eq!(b.metrics().calls, 0);
        assert_eq!(b.state(), State::Closed);
    }

    #[tokio::test(start_paused = true)]
    async fn time_based_window() {
        let b = CircuitBreaker::builder()
            .time_based_window(10)
            .minimum_number_of_calls(3)
            .failure_rate_threshold(60.0)
            .build();
        calls(&b, &[F, F]);
        advance(secs(11)).await;
        calls(&b, &[S]);
        assert_eq!(b.metrics().calls, 1, "old calls left the window");
        calls(&b, &[F, F]);
        assert_eq!(b.state(), State::Open, "2 of 3 failed within 10 s");

        // A success that completes the minimum number of calls is checked too.
        let b = CircuitBreaker::builder()
            .time_based_window(10)
            .minimum_number_of_calls(3)
            .failure_rate_threshold(60.0)
            .build();
        calls(&b, &[F, F]);
        assert_eq!(b.state(), State::Closed);
        calls(&b, &[S]);
        assert_eq!(b.state(), State::Open, "2 of 3, reached on a success");
    }

    #[tokio::test(start_paused = true)]
    async fn events_and_listeners() {
        let seen = Arc::new(parking_lot::Mutex::new(Vec::new()));
        let s = seen.clone();
        let b = small()
            .name("db")
            .on_transition(move |e: &StateTransition| s.lock().push((e.from, e.to)))
            .build();
        let mut rx = b.subscribe();
        calls(&b, &[F, F, F, F]);
        advance(secs(10)).await;
        calls(&b, &[S, S]);
        let expected = vec![
            (State::Closed, State::Open),
            (State::Open, State::HalfOpen),
            (State::HalfOpen, State::Closed),
        ];
        assert_eq!(*seen.lock(), expected);
        for (from, to) in expected {
            let e = rx.recv().await.unwrap();
            assert_eq!((&*e.name, e.from, e.to), ("db", from, to));
        }
        assert!(format!("{b:?}").contains("db"));
    }

    #[test]
    fn state_names() {
        for s in State::ALL {
            assert_eq!(State::from_code(s.code()), s);
            assert_eq!(s.to_string(), s.as_str());
        }
        assert_eq!(State::from_code(99), State::Closed);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        /// Under contention, never more than `permitted` probes are in flight at once.
        #[test]
        fn half_open_never_admits_more_than_permitted(
            permitted in 1u32..6,
            threads in 2usize..8,
            rounds in 50usize..300,
        ) {
            let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
            let b = rt.block_on(async {
                CircuitBreaker::builder().permitted_calls_in_half_open(permitted).build()
            });
            b.transition_to_half_open();
            let in_flight = Arc::new(AtomicUsize::new(0));
            let max_seen = Arc::new(AtomicUsize::new(0));
            let admitted = Arc::new(AtomicUsize::new(0));
            let handles: Vec<_> = (0..threads).map(|t| {
                let (b, in_flight, max_seen, admitted) =
                    (b.clone(), in_flight.clone(), max_seen.clone(), admitted.clone());
                std::thread::spawn(move || {
                    for i in 0..rounds {
                        if let Ok(p) = b.try_acquire() {
                            assert!(p.is_probe());
                            let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                            max_seen.fetch_max(now, Ordering::SeqCst);
                            admitted.fetch_add(1, Ordering::SeqCst);
                            std::hint::spin_loop();
                            in_flight.fetch_sub(1, Ordering::SeqCst);
                            // Give the slot back: dropped unrecorded, or recorded as ignored.
                            if (i + t) % 2 == 0 { drop(p) } else { p.record(Outcome::Ignored) }
                        }
                    }
                })
            }).collect();
            for h in handles {
                h.join().unwrap();
            }
            prop_assert!(max_seen.load(Ordering::SeqCst) <= permitted as usize);
            prop_assert!(admitted.load(Ordering::SeqCst) >= 1);
            prop_assert_eq!(b.state(), State::HalfOpen);
            // Every slot came back: exactly `permitted` can be taken now.
            let permits: Vec<_> = (0..permitted).map(|_| b.try_acquire().unwrap()).collect();
            prop_assert!(b.try_acquire().is_err());
            drop(permits);
        }

        /// With real outcomes, a half-open period decides after exactly `permitted` probes,
        /// and no more than that many are ever admitted in it.
        #[test]
        fn half_open_admits_exactly_permitted_then_decides(
            permitted in 1u32..6,
            threads in 2usize..6,
            fail in any::<bool>(),
        ) {
            let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
            let b = rt.block_on(async {
                CircuitBreaker::builder().permitted_calls_in_half_open(permitted).build()
            });
            b.transition_to_half_open();
            let admitted = Arc::new(AtomicUsize::new(0));
            let handles: Vec<_> = (0..threads).map(|_| {
                let (b, admitted) = (b.clone(), admitted.clone());
                std::thread::spawn(move || {
                    let mut mine = Vec::new();
                    for _ in 0..50 {
                        if let Ok(p) = b.try_acquire()
                            && p.is_probe()
                        {
                            admitted.fetch_add(1, Ordering::SeqCst);
                            mine.push(p);
                        }
                    }
                    mine
                })
            }).collect();
            let permits: Vec<Permit> = handles.into_iter().flat_map(|h| h.join().unwrap()).collect();
            prop_assert_eq!(admitted.load(Ordering::SeqCst), permitted as usize);
            for p in permits {
                p.record(if fail { Outcome::Failure } else { Outcome::Success });
            }
            let expected = if fail { State::Open } else { State::Closed };
            prop_assert_eq!(b.state(), expected);
        }
    }
}
