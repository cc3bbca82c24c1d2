//! SPEC §7's sustainable rate: the sweep from below and the pass criterion of one step. Pure
//! logic, so every target gets exactly the same procedure and the procedure is tested.

/// A step passes only if delivery p99 stays under this many milliseconds.
pub(crate) const P99_LIMIT_MS: f64 = 50.0;
/// The same limit in the microseconds latencies are recorded in.
pub(crate) const P99_LIMIT_US: u64 = 50_000;

/// How the sweep chooses its rates.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Plan {
    /// The first rate (SPEC: 1,000 msgs/s).
    pub start: u64,
    /// When the first rate fails, the sweep goes down from it (dividing by `factor`) to no
    /// lower than this, and bisects between the highest pass and the lowest failure as above
    /// it: a peer that cannot carry the first rate (Node + PostgreSQL on a slow machine) then
    /// has a measured rate to compare with, not only "below the start". That rate is
    /// reported apart ([`Sweep::below_start`]); the sustainable rate stays 0, as SPEC §7
    /// counts from the first rate up.
    pub floor: u64,
    /// Each rate is the last passing one times this, until one fails.
    pub factor: f64,
    /// Bisecting stops once the first failing rate is within this fraction above the last
    /// passing one (0.05: within 5 %).
    pub precision: f64,
    /// No rate above this is tried: the load generator's own ceiling.
    pub max: u64,
}

/// Where a sweep stands: the highest passing rate so far and the lowest failing one.
#[derive(Debug, Clone)]
pub(crate) struct Sweep {
    plan: Plan,
    last_pass: Option<u64>,
    first_fail: Option<u64>,
}

/// Rates are rounded to tens of messages per second, which reads better and loses nothing.
fn round_rate(r: f64) -> u64 {
    ((r / 10.0).round() * 10.0) as u64
}

impl Sweep {
    pub(crate) fn new(plan: Plan) -> Self {
        Self {
            plan,
            last_pass: None,
            first_fail: None,
        }
    }

    /// The next rate to measure, or `None` when the sweep is over: the bisection is within
    /// `precision`, `max` passed, or every rate down to `floor` failed.
    pub(crate) fn next_rate(&self) -> Option<u64> {
        match (self.last_pass, self.first_fail) {
            (None, None) => Some(self.plan.start),
            (None, Some(f)) => {
                let down = round_rate(f as f64 / self.plan.factor).max(self.plan.floor);
                (down < f).then_some(down)
            }
            (Some(lo), None) => {
                if lo >= self.plan.max {
                    return None;
                }
                let up = round_rate(lo as f64 * self.plan.factor).max(lo + 10);
                Some(up.min(self.plan.max))
            }
            (Some(lo), Some(hi)) => {
                if hi as f64 <= lo as f64 * (1.0 + self.plan.precision) {
                    return None;
                }
                let mid = round_rate((lo + hi) as f64 / 2.0);
                (mid > lo && mid < hi).then_some(mid)
            }
        }
    }

    /// Records a measured step. A pass at or above a failing rate changes nothing: a rate
    /// that passes above a failing one does not count (SPEC §7).
    pub(crate) fn record(&mut self, rate: u64, passed: bool) {
        if passed {
            if self.first_fail.is_none_or(|f| rate < f) {
                self.last_pass = Some(self.last_pass.map_or(rate, |p| p.max(rate)));
            }
        } else {
            self.first_fail = Some(self.first_fail.map_or(rate, |f| f.min(rate)));
        }
    }

    /// The sustainable rate: the highest rate such that every rate swept up to it passed;
    /// 0 when even the first rate failed.
    pub(crate) fn sustainable(&self) -> u64 {
        self.last_pass
            .filter(|&p| p >= self.plan.start)
            .unwrap_or(0)
    }

    /// When the first rate failed: the highest rate below it that passed, bisected as any
    /// other (within `precision` of the lowest failure), if one down to `floor` did.
    pub(crate) fn below_start(&self) -> Option<u64> {
        self.last_pass.filter(|&p| p < self.plan.start)
    }

    /// The lowest rate that failed, if any did.
    pub(crate) fn first_failure(&self) -> Option<u64> {
        self.first_fail
    }

    /// True when the sweep stopped at `max` without a failure: the server may carry more
    /// than the load generator offered.
    pub(crate) fn capped(&self) -> bool {
        self.first_fail.is_none() && self.last_pass.is_some_and(|p| p >= self.plan.max)
    }
}

/// What one measured step saw, enough to judge it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Counts {
    /// Messages the schedule called for during the step.
    pub due: u64,
    /// Messages the load generator sent.
    pub sent: u64,
    pub acked: u64,
    pub refused: u64,
    /// Sockets whose connection ended during the step.
    pub closed: u64,
    /// Distinct deliveries seen (a message to each expected receiver).
    pub delivered: u64,
    /// Deliveries expected: `sent` times the receivers of each message.
    pub expected: u64,
    /// Acknowledged messages that some receiver never got.
    pub lost: u64,
    pub duplicates: u64,
    pub out_of_order: u64,
    pub p99_ms: f64,
    /// The step was cut short because its p99 could no longer pass.
    pub aborted: bool,
}

/// A step passes when the generator offered what was due, every socket stayed connected,
/// every message was acknowledged and delivered exactly once and in order, and delivery p99
/// stayed under the limit. The
/// error names the first reason it did not.
pub(crate) fn verdict(c: &Counts) -> Result<(), String> {
    if c.aborted {
        return Err(format!(
            "stopped early: over 1 % of deliveries already took ≥ {P99_LIMIT_MS} ms"
        ));
    }
    // The generator may fall a few messages behind its schedule within a tick; more than
    // 1 % behind means it could not offer this rate, and the step says nothing of the server.
    if c.sent * 100 < c.due * 99 {
        return Err(format!(
            "the load generator sent only {} of {} messages",
            c.sent, c.due
        ));
    }
    if c.refused > 0 {
        return Err(format!("{} sends refused", c.refused));
    }
    if c.closed > 0 {
        return Err(format!("{} sockets lost their connection", c.closed));
    }
    if c.acked < c.sent {
        return Err(format!("{} of {} sends acknowledged", c.acked, c.sent));
    }
    if c.lost > 0 {
        return Err(format!("{} acknowledged messages not delivered", c.lost));
    }
    if c.delivered < c.expected {
        return Err(format!(
            "{} of {} deliveries arrived",
            c.delivered, c.expected
        ));
    }
    if c.duplicates > 0 {
        return Err(format!("{} duplicate deliveries", c.duplicates));
    }
    if c.out_of_order > 0 {
        return Err(format!("{} deliveries out of order", c.out_of_order));
    }
    if c.p99_ms >= P99_LIMIT_MS {
        return Err(format!("p99 {:.1} ms ≥ {P99_LIMIT_MS} ms", c.p99_ms));
    }
    Ok(())
}

/// The index of the 99th percentile among `n` sorted samples, as the report computes it.
pub(crate) fn p99_index(n: u64) -> u64 {
    ((n.saturating_sub(1)) as f64 * 0.99).round() as u64
}

/// True once `slow` deliveries at or over the limit guarantee that a step expecting
/// `expected` deliveries fails: its p99 sample is then one of them (or not everything
/// arrives, which fails too). Lets a failing step stop early instead of piling up a backlog
/// that the next, lower step would inherit.
pub(crate) fn doomed(slow: u64, expected: u64) -> bool {
    expected > 0 && slow >= expected - p99_index(expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAN: Plan = Plan {
        start: 1_000,
        floor: 100,
        factor: 1.5,
        precision: 0.05,
        max: 100_000,
    };

    /// Runs a sweep to its end against a server that passes the rates `passes` says.
    fn run(plan: Plan, passes: impl Fn(u64) -> bool) -> (Sweep, Vec<u64>) {
        let mut s = Sweep::new(plan);
        let mut tried = Vec::new();
        while let Some(r) = s.next_rate() {
            assert!(tried.len() < 100, "the sweep does not end: {tried:?}");
            tried.push(r);
            s.record(r, passes(r));
        }
        (s, tried)
    }

    #[test]
    fn the_sweep_climbs_by_half_from_a_thousand_until_a_rate_fails() {
        let (_, tried) = run(PLAN, |r| r <= 4_000);
        assert_eq!(&tried[..5], &[1_000, 1_500, 2_250, 3_380, 5_070]);
    }

    #[test]
    fn the_first_failure_is_bisected_to_within_five_percent_of_the_last_pass() {
        let (s, tried) = run(PLAN, |r| r <= 4_000);
        // 3,380 passed, 5,070 failed: 4,230 fails, 3,810 passes, 4,020 fails, 3,920 passes,
        // and 4,020 is within 5 % of 3,920.
        assert_eq!(&tried[5..], &[4_230, 3_810, 4_020, 3_920]);
        assert_eq!(s.sustainable(), 3_920);
        assert_eq!(s.first_failure(), Some(4_020));
        let fail = s.first_failure().unwrap() as f64;
        assert!(fail <= s.sustainable() as f64 * 1.05);
        assert!(!s.capped());
    }

    #[test]
    fn a_failing_first_rate_leaves_nothing_sustainable_and_the_sweep_goes_down_to_its_floor() {
        let (s, tried) = run(PLAN, |_| false);
        assert_eq!(tried, vec![1_000, 670, 450, 300, 200, 130, 100]);
        assert_eq!(s.sustainable(), 0);
        assert_eq!(s.below_start(), None);
        assert_eq!(s.first_failure(), Some(100));
    }

    #[test]
    fn below_a_failing_first_rate_the_highest_pass_is_bisected_and_reported_apart() {
        // A peer that carries up to 780 msgs/s: 1,000 fails, 670 passes, then the bisection
        // between them as above the start: 840 fails, 760 passes, 800 fails, 780 passes, and
        // 800 is within 5 % of 780.
        let (s, tried) = run(PLAN, |r| r <= 780);
        assert_eq!(tried, vec![1_000, 670, 840, 760, 800, 780]);
        assert_eq!(s.sustainable(), 0, "SPEC §7 counts from the first rate up");
        assert_eq!(s.below_start(), Some(780));
        assert_eq!(s.first_failure(), Some(800));
    }

    #[test]
    fn a_passing_first_rate_has_nothing_below_the_start() {
        let (s, _) = run(PLAN, |r| r <= 4_000);
        assert_eq!(s.below_start(), None);
    }

    #[test]
    fn a_rate_that_passes_above_a_failing_one_does_not_count() {
        let mut s = Sweep::new(PLAN);
        s.record(1_000, true);
        s.record(1_500, false);
        s.record(2_250, true);
        assert_eq!(s.sustainable(), 1_000);
        // A hump between the last pass and the first failure does count.
        s.record(1_250, true);
        assert_eq!(s.sustainable(), 1_250);
    }

    #[test]
    fn a_hump_above_the_first_failure_is_never_measured() {
        // Passes at 1,000, fails at 1,500, would pass again at 2,250: the sweep never goes
        // above its first failure.
        let (s, tried) = run(PLAN, |r| r < 1_100 || r == 2_250);
        assert!(tried.iter().all(|&r| r <= 1_500), "{tried:?}");
        assert!(s.sustainable() < 1_100);
    }

    #[test]
    fn the_sweep_stops_at_its_ceiling_and_says_so() {
        let plan = Plan { max: 3_000, ..PLAN };
        let (s, tried) = run(plan, |_| true);
        assert_eq!(tried, vec![1_000, 1_500, 2_250, 3_000]);
        assert_eq!(s.sustainable(), 3_000);
        assert!(s.capped());
    }

    fn clean(n: u64) -> Counts {
        Counts {
            due: n,
            sent: n,
            acked: n,
            delivered: n,
            expected: n,
            p99_ms: 12.0,
            ..Counts::default()
        }
    }

    #[test]
    fn a_step_with_everything_delivered_in_time_passes() {
        assert_eq!(verdict(&clean(5_000)), Ok(()));
    }

    #[test]
    fn a_step_fails_at_a_p99_of_fifty_milliseconds_or_more() {
        let c = Counts {
            p99_ms: 50.0,
            ..clean(5_000)
        };
        assert!(verdict(&c).unwrap_err().contains("p99"));
        let c = Counts {
            p99_ms: 49.9,
            ..clean(5_000)
        };
        assert_eq!(verdict(&c), Ok(()));
    }

    #[test]
    fn a_step_fails_on_anything_lost_duplicated_refused_or_out_of_order() {
        let cases = [
            (
                Counts {
                    lost: 1,
                    delivered: 4_999,
                    ..clean(5_000)
                },
                "not delivered",
            ),
            (
                Counts {
                    delivered: 4_999,
                    ..clean(5_000)
                },
                "deliveries arrived",
            ),
            (
                Counts {
                    duplicates: 1,
                    ..clean(5_000)
                },
                "duplicate",
            ),
            (
                Counts {
                    out_of_order: 1,
                    ..clean(5_000)
                },
                "out of order",
            ),
            (
                Counts {
                    refused: 1,
                    ..clean(5_000)
                },
                "refused",
            ),
            (
                Counts {
                    closed: 1,
                    ..clean(5_000)
                },
                "lost their connection",
            ),
            (
                Counts {
                    acked: 4_999,
                    ..clean(5_000)
                },
                "acknowledged",
            ),
            (
                Counts {
                    aborted: true,
                    ..clean(5_000)
                },
                "stopped early",
            ),
        ];
        for (c, why) in cases {
            let e = verdict(&c).unwrap_err();
            assert!(e.contains(why), "{e} should say {why}");
        }
    }

    #[test]
    fn a_step_the_load_generator_could_not_offer_fails_as_such() {
        let c = Counts {
            due: 10_000,
            ..clean(9_800)
        };
        assert!(verdict(&c).unwrap_err().contains("load generator"));
        let c = Counts {
            due: 10_000,
            ..clean(9_950)
        };
        assert_eq!(verdict(&c), Ok(()));
    }

    #[test]
    fn a_step_is_doomed_exactly_when_its_p99_sample_must_be_slow() {
        // 100 deliveries: the p99 is the 99th smallest (index 98), so two slow ones decide it.
        assert_eq!(p99_index(100), 98);
        assert!(!doomed(1, 100));
        assert!(doomed(2, 100));
        // 10,000 deliveries: index 9,899, so 101 slow ones.
        assert!(!doomed(100, 10_000));
        assert!(doomed(101, 10_000));
        assert!(!doomed(0, 0));
        // Cross-check against the percentile itself: 101 slow of 10,000 put it over.
        let mut lat = vec![1_000_u64; 10_000 - 101];
        lat.extend(std::iter::repeat_n(P99_LIMIT_US, 101));
        assert!(lat[p99_index(10_000) as usize] >= P99_LIMIT_US);
        lat.pop();
        lat.insert(0, 1_000);
        assert!(lat[p99_index(10_000) as usize] < P99_LIMIT_US);
    }
}
