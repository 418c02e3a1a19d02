//! [`RedisRateLimitStore`]: `core_backend_ratelimit::RateLimitStore` on Redis.
//!
//! Every check is one `EVALSHA` of a Lua script (the `redis` crate's `Script` loads it and
//! retries with the source on `NOSCRIPT`, e.g. after a Redis restart), so read-decide-write is
//! atomic across every instance sharing the Redis.
//!
//! # Whose clock?
//!
//! The script reads the time with Redis `TIME`, and ignores the `now` the layer passes. Every
//! instance is then judged by one clock, so clock skew between application hosts cannot give
//! one of them extra quota or make it deny early; the cost is that a Redis fail-over to a
//! replica whose clock differs shifts all buckets by that difference once (GCRA absorbs it: a
//! clock jump forward refills buckets early, a jump backward denies for at most that long).
//! Redis ≥ 5 replicates scripts by effects, so `TIME` inside a script is allowed.
//!
//! # Keys
//!
//! `<prefix>:rl:{<limit>}:<key>`: IP keys as text, text keys (which may be API keys) as the
//! first 128 bits of their SHA-256 so no secret lands in Redis. Each key expires exactly when its
//! state becomes equivalent to no state (GCRA: when the bucket is full again), so Redis memory
//! is bounded by the number of active clients.

use std::time::Duration;

use core_backend_ratelimit::{
    Algorithm, CheckFuture, Decision, Quota, RateLimitKey, RateLimitStore, StoreError, StoreKey,
};
use redis::Script;
use redis::aio::ConnectionManager;
use sha2::{Digest, Sha256};

use crate::Redis;

/// GCRA, fixed and sliding window in one script; times in microseconds from Redis `TIME`.
/// ARGV: algorithm (0 GCRA, 1 fixed, 2 sliding), then GCRA: emission interval, tolerance;
/// windows: period, limit. Returns {allowed, remaining, reset, retry_after}.
pub const SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local algo = tonumber(ARGV[1])
local a = tonumber(ARGV[2])
local b = tonumber(ARGV[3])
if algo == 0 then
  local interval, tolerance = a, b
  local tat = tonumber(redis.call('GET', KEYS[1])) or now
  if tat < now then tat = now end
  local new_tat = tat + interval
  local ahead = new_tat - now
  if ahead > tolerance then
    return {0, 0, tat - now, ahead - tolerance}
  end
  redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.ceil(ahead / 1000))
  return {1, math.floor((tolerance - ahead) / interval), ahead, 0}
end
local period, limit = a, b
local window = math.floor(now / period)
local elapsed = now - window * period
local until_next = period - elapsed
local v = redis.call('HMGET', KEYS[1], 'w', 'c', 'p')
local w = tonumber(v[1])
if algo == 1 then
  local c = 0
  if w == window then c = tonumber(v[2]) or 0 end
  if c >= limit then return {0, 0, until_next, until_next} end
  redis.call('HSET', KEYS[1], 'w', string.format('%.0f', window), 'c', c + 1)
  redis.call('PEXPIREAT', KEYS[1], string.format('%.0f', math.ceil((window + 1) * period / 1000)))
  return {1, limit - c - 1, until_next, 0}
end
local cur, prev = 0, 0
if w == window then
  cur = tonumber(v[2]) or 0
  prev = tonumber(v[3]) or 0
elseif w == window - 1 then
  prev = tonumber(v[2]) or 0
end
local estimate = prev * (period - elapsed) / period + cur
if estimate + 1 <= limit then
  redis.call('HSET', KEYS[1], 'w', string.format('%.0f', window), 'c', cur + 1, 'p', prev)
  redis.call('PEXPIREAT', KEYS[1], string.format('%.0f', math.ceil((window + 2) * period / 1000)))
  return {1, math.floor(limit - estimate - 1), until_next + period, 0}
end
local retry
if cur < limit then
  local at = period - (limit - cur - 1) * period / math.max(prev, 1)
  if at > period then at = period end
  retry = math.max(math.ceil(at - elapsed), 1)
else
  retry = until_next + math.ceil(period - (limit - 1) * period / cur)
end
local reset = 0
if cur > 0 then reset = until_next + period elseif prev > 0 then reset = until_next end
return {0, 0, reset, retry}
";

/// The Redis [`RateLimitStore`]; see the [module docs](self).
#[derive(Clone)]
pub struct RedisRateLimitStore {
    conn: ConnectionManager,
    prefix: String,
    script: Script,
}

impl std::fmt::Debug for RedisRateLimitStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisRateLimitStore")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1)
}

/// The script's arguments for a quota.
fn args(quota: &Quota) -> (u8, u64, u64) {
    match quota.algorithm_kind() {
        Algorithm::FixedWindow => (1, micros(quota.period()), u64::from(quota.limit())),
        Algorithm::SlidingWindow => (2, micros(quota.period()), u64::from(quota.limit())),
        // GCRA and any algorithm added later that has no script yet
        _ => {
            let interval = micros(quota.emission_interval());
            (
                0,
                interval,
                interval.saturating_mul(u64::from(quota.burst_size())),
            )
        }
    }
}

impl RedisRateLimitStore {
    /// A store on `redis`'s connection and key prefix.
    pub fn new(redis: &Redis) -> Self {
        Self {
            conn: redis.connection(),
            prefix: format!("{}:rl:", redis.key_prefix()),
            script: Script::new(SCRIPT),
        }
    }

    /// The Redis key for a limit and key.
    pub fn redis_key(&self, key: StoreKey<'_>) -> String {
        let part = match key.key {
            RateLimitKey::Ip(ip) => format!("ip:{ip}"),
            RateLimitKey::Text(text) => {
                format!("h:{}", hex::encode(&Sha256::digest(text.as_bytes())[..16]))
            }
            // Global and any key kind added later
            _ => "global".to_owned(),
        };
        format!("{}{{{}}}:{part}", self.prefix, key.limit)
    }

    /// Charges one request (what [`RateLimitStore::check`] runs), awaiting the result.
    pub async fn check_async(
        &self,
        key: StoreKey<'_>,
        quota: &Quota,
    ) -> Result<Decision, StoreError> {
        run(
            self.conn.clone(),
            self.script.clone(),
            self.redis_key(key),
            args(quota),
        )
        .await
    }
}

async fn run(
    mut conn: ConnectionManager,
    script: Script,
    key: String,
    (algo, a, b): (u8, u64, u64),
) -> Result<Decision, StoreError> {
    let (allowed, remaining, reset, retry): (i64, i64, i64, i64) = script
        .key(key)
        .arg(algo)
        .arg(a)
        .arg(b)
        .invoke_async(&mut conn)
        .await
        .map_err(StoreError::new)?;
    let us = |v: i64| Duration::from_micros(u64::try_from(v).unwrap_or(0));
    Ok(if allowed == 1 {
        Decision::allowed(u64::try_from(remaining).unwrap_or(0), us(reset))
    } else {
        Decision::denied(us(retry), us(reset))
    })
}

impl RateLimitStore for RedisRateLimitStore {
    fn check(&self, key: StoreKey<'_>, quota: &Quota, _now: Duration) -> CheckFuture {
        CheckFuture::boxed(run(
            self.conn.clone(),
            self.script.clone(),
            self.redis_key(key),
            args(quota),
        ))
    }
}
