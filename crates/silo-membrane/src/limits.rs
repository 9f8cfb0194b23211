//! What one cell may make its membrane do: sizes, connections, concurrency, rate and
//! timeouts, plus the token bucket and the audit throttle that enforce the rate.
//!
//! Every limit is per cell (per socket), so a cell flooding its membrane only slows itself.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::error::MembraneError;

/// hyper's smallest header buffer.
const MIN_HEADER_BYTES: usize = 8192;

/// Bounds on one cell's use of its membrane.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Largest request body in bytes; larger ones get `413 body_too_large`.
    pub max_body_bytes: usize,
    /// Largest request line + headers in bytes (at least 8192); larger ones get `431`.
    pub max_header_bytes: usize,
    /// Most headers in one request.
    pub max_headers: usize,
    /// Most open connections from the cell; more are closed at once.
    pub max_connections: usize,
    /// Most requests being served at once; more get `503 busy`.
    pub max_concurrent_requests: usize,
    /// Sustained requests per second; above it requests get `429 rate_limited`.
    pub requests_per_second: u32,
    /// Requests allowed in a burst above the sustained rate.
    pub burst: u32,
    /// Time allowed to send the request line and headers.
    pub header_read_timeout: Duration,
    /// Time allowed to send the body once the headers are in.
    pub body_read_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 64 * 1024,
            max_header_bytes: 16 * 1024,
            max_headers: 32,
            max_connections: 16,
            max_concurrent_requests: 8,
            requests_per_second: 50,
            burst: 100,
            header_read_timeout: Duration::from_secs(5),
            body_read_timeout: Duration::from_secs(5),
        }
    }
}

impl Limits {
    /// Checks the limits make sense (nothing zero, header buffer at least 8192 bytes).
    pub fn validate(&self) -> Result<(), MembraneError> {
        let bad = |what: &str| Err(MembraneError::InvalidConfig(what.to_string()));
        if self.max_header_bytes < MIN_HEADER_BYTES {
            return bad("`max_header_bytes` must be at least 8192");
        }
        if self.max_body_bytes == 0
            || self.max_headers == 0
            || self.max_connections == 0
            || self.max_concurrent_requests == 0
            || self.requests_per_second == 0
            || self.burst == 0
        {
            return bad("limits must not be zero");
        }
        if self.header_read_timeout.is_zero() || self.body_read_timeout.is_zero() {
            return bad("timeouts must not be zero");
        }
        Ok(())
    }
}

/// A token bucket: `rate` tokens a second, at most `burst` saved up.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    rate: f64,
    burst: f64,
    state: Mutex<(f64, Instant)>,
}

impl RateLimiter {
    pub(crate) fn new(rate: u32, burst: u32) -> Self {
        Self {
            rate: f64::from(rate),
            burst: f64::from(burst),
            state: Mutex::new((f64::from(burst), Instant::now())),
        }
    }

    /// Takes one token; `false` means over the limit (also if the lock is poisoned: fail closed).
    pub(crate) fn try_acquire(&self) -> bool {
        let Ok(mut state) = self.state.lock() else {
            return false;
        };
        let now = Instant::now();
        let (tokens, last) = *state;
        let refilled =
            (tokens + now.duration_since(last).as_secs_f64() * self.rate).min(self.burst);
        if refilled >= 1.0 {
            *state = (refilled - 1.0, now);
            true
        } else {
            *state = (refilled, now);
            false
        }
    }
}

/// Lets through at most one audit entry a second for refusals that a flood would otherwise
/// turn into a flood of audit writes (rate limit, busy), counting the ones it held back.
#[derive(Debug)]
pub(crate) struct AuditThrottle {
    state: Mutex<(Option<Instant>, u64)>,
}

impl AuditThrottle {
    pub(crate) fn new() -> Self {
        Self {
            state: Mutex::new((None, 0)),
        }
    }

    /// `Some(n)` when this refusal should be audited, `n` being how many were held back since
    /// the last audited one; `None` when it is only counted.
    pub(crate) fn admit(&self) -> Option<u64> {
        let mut state = self.state.lock().ok()?;
        let now = Instant::now();
        let due = state
            .0
            .is_none_or(|last| now.duration_since(last) >= Duration::from_secs(1));
        if due {
            let held_back = state.1;
            *state = (Some(now), 0);
            Some(held_back)
        } else {
            state.1 = state.1.saturating_add(1);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_zero_is_refused() {
        assert!(Limits::default().validate().is_ok());
        let l = Limits {
            max_body_bytes: 0,
            ..Limits::default()
        };
        assert!(l.validate().is_err());
        let l = Limits {
            max_header_bytes: 100,
            ..Limits::default()
        };
        assert!(l.validate().is_err());
    }

    #[test]
    fn bucket_allows_the_burst_then_refuses() {
        let r = RateLimiter::new(1, 3);
        assert!((0..3).all(|_| r.try_acquire()));
        assert!(!r.try_acquire());
    }

    #[test]
    fn throttle_admits_one_a_second_and_counts_the_rest() {
        let t = AuditThrottle::new();
        assert_eq!(t.admit(), Some(0));
        assert_eq!(t.admit(), None);
        assert_eq!(t.admit(), None);
    }
}
