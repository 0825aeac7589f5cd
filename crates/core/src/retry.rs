//! How often and how patiently a failing action is tried again: one policy for pushes to DHIS2 and
//! portals (`push_retry`, `--attempts`) and for pipeline steps (`retries`, `retry_delay_seconds`,
//! `timeout_seconds`).

use std::time::Duration;

/// Attempts and waits: `attempts` tries in all, waiting `first_delay` before the second and twice as
/// long before each next one (at most `max_delay`); each try is abandoned after `timeout`, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Tries in all (at least 1).
    pub attempts: u32,
    /// Wait before the second try.
    pub first_delay: Duration,
    /// Longest wait between tries.
    pub max_delay: Duration,
    /// Limit of one try (none: as long as it takes).
    pub timeout: Option<Duration>,
}

impl Default for RetryPolicy {
    /// 5 tries, waiting 1, 2, 4 and 8 s; 60 s per try (a push's defaults).
    fn default() -> Self {
        RetryPolicy { attempts: 5, first_delay: Duration::from_secs(1), max_delay: Duration::from_secs(60), timeout: Some(Duration::from_secs(60)) }
    }
}

impl RetryPolicy {
    /// `retries` tries after the first, waiting `first_delay` and then twice as long each time (at
    /// most 1,024 times `first_delay`), each try limited to `timeout`: a pipeline step's policy.
    pub fn with_retries(retries: u32, first_delay: Duration, timeout: Option<Duration>) -> RetryPolicy {
        RetryPolicy { attempts: retries.saturating_add(1), first_delay, max_delay: first_delay.saturating_mul(1024), timeout }
    }

    /// Tries in all, at least 1.
    pub fn tries(&self) -> u32 {
        self.attempts.max(1)
    }

    /// Whether another try follows failed try `n` (from 1).
    pub fn retries_after(&self, n: u32) -> bool {
        n < self.tries()
    }

    /// The wait after failed try `n` (from 1).
    pub fn delay(&self, n: u32) -> Duration {
        self.first_delay.saturating_mul(1u32 << (n.saturating_sub(1)).min(20)).min(self.max_delay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_up_to_the_limit() {
        let policy =
            RetryPolicy { attempts: 9, first_delay: Duration::from_millis(100), max_delay: Duration::from_millis(500), timeout: Some(Duration::from_secs(1)) };
        assert_eq!([1, 2, 3, 4, 5].map(|n| policy.delay(n).as_millis()), [100, 200, 400, 500, 500]);
        assert!(policy.retries_after(8) && !policy.retries_after(9));
        let step = RetryPolicy::with_retries(2, Duration::from_secs(30), None);
        assert_eq!((step.tries(), step.delay(1).as_secs(), step.delay(2).as_secs(), step.delay(30).as_secs()), (3, 30, 60, 30 * 1024));
        assert_eq!(RetryPolicy { attempts: 0, ..RetryPolicy::default() }.tries(), 1);
    }
}
