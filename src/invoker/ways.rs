//! Two ways of running the same maps, chosen by how fast each has run them
//! on this machine: used where the better way depends on the machine (its
//! caches, where its CPUs sit) more than on anything the library can read.
//!
//! The time decides, in medians, so a map whose thread lost its CPU is no
//! sign of either way. The way in favour keeps a running median of its rate
//! per item; the other way is tried now and then, for `trial` maps, and
//! takes over if their median is lower by `MARGIN`: `retry_after` maps
//! after it last won, twice as long after each trial it loses (at most
//! `max_retry`), and sooner (after `retry_after`) when the way in favour
//! has become slower, by `MARGIN`, than the other was at its last trial
//! (the work, or the machine, changed).

/// How much faster a way must run to take over, or the way in favour
/// slower to call a trial early: where both run alike, noise alone should
/// not switch them back and forth.
const MARGIN: f64 = 1.03;
/// How far one map moves the way in favour's median rate (a share), up or
/// down: a running median, which an outlier moves no further than any
/// other map. Smaller than `MARGIN` by far, as it wobbles by this much.
const STEP: f64 = 1.0 / 64.0;

/// How often each way is tried, and how fast the running median moves.
#[derive(Clone, Copy)]
pub(crate) struct Tuning {
    /// Maps in a trial of the way not in favour.
    pub trial: u32,
    /// Maps before the first trial; between trials at first, and at most.
    pub first_trial_after: u32,
    pub retry_after: u32,
    pub max_retry: u32,
}

pub(crate) struct TwoWays {
    tuning: Tuning,
    /// The way in favour.
    favoured: bool,
    /// Median rates (e.g. nanoseconds per item): the way in favour's recent
    /// ones, and the other's at its last trial (indexed by the way; NaN:
    /// not measured yet).
    rate: [f64; 2],
    /// Maps until the next trial, and between trials; since the last.
    retry_in: u32,
    retry_every: u32,
    since_trial: u32,
    /// A trial of the other way: its maps' rates so far.
    trial: Option<Vec<f64>>,
}

impl TwoWays {
    pub fn new(favoured: bool, tuning: Tuning) -> TwoWays {
        TwoWays {
            tuning,
            favoured,
            rate: [f64::NAN; 2],
            retry_in: tuning.first_trial_after.max(1),
            retry_every: tuning.retry_after,
            since_trial: 0,
            trial: None,
        }
    }

    /// The way the next map takes.
    pub fn next(&self) -> bool {
        self.favoured != self.trial.is_some()
    }

    /// A map ran `way` at `rate`.
    pub fn learn(&mut self, way: bool, rate: f64) {
        let t = self.tuning;
        let (fav, other) = (usize::from(self.favoured), usize::from(!self.favoured));
        match &mut self.trial {
            Some(rates) if way != self.favoured => {
                rates.push(rate);
                if rates.len() < t.trial as usize {
                    return;
                }
                self.rate[other] = median(rates);
                self.trial = None;
                if self.rate[other] * MARGIN < self.rate[fav] {
                    // The other way won: it is in favour now.
                    self.favoured = !self.favoured;
                    self.retry_every = t.retry_after;
                } else {
                    self.retry_every = (self.retry_every * 2).min(t.max_retry);
                }
                (self.retry_in, self.since_trial) = (self.retry_every, 0);
            }
            None if way == self.favoured => {
                let recent = &mut self.rate[fav];
                *recent = match recent.is_nan() {
                    true => rate,
                    false if rate > *recent => *recent * (1.0 + STEP),
                    false if rate < *recent => *recent * (1.0 - STEP),
                    false => *recent,
                };
                self.retry_in -= 1;
                self.since_trial += 1;
                // (NaN compares false: no trial for want of a measure.)
                let slower = self.rate[fav] > self.rate[other] * MARGIN && self.since_trial >= t.retry_after;
                if self.retry_in == 0 || slower {
                    self.trial = Some(Vec::with_capacity(t.trial as usize));
                }
            }
            // A map that ran as decided before: it tells nothing now.
            _ => {}
        }
    }
}

/// The median of `rates` (not empty).
fn median(rates: &mut [f64]) -> f64 {
    rates.sort_unstable_by(f64::total_cmp);
    let mid = rates.len() / 2;
    if rates.len() % 2 == 1 { rates[mid] } else { (rates[mid - 1] + rates[mid]) / 2.0 }
}

#[cfg(test)]
mod tests {
    use super::{Tuning, TwoWays};

    const T: Tuning = Tuning { trial: 3, first_trial_after: 1, retry_after: 4, max_retry: 16 };

    /// Runs `maps` maps, each at `rate(way)`; the ways taken, in order.
    fn drive(w: &mut TwoWays, maps: usize, rate: impl Fn(bool) -> f64) -> Vec<bool> {
        (0..maps)
            .map(|_| {
                let way = w.next();
                w.learn(way, rate(way));
                way
            })
            .collect()
    }

    #[test]
    fn the_faster_way_takes_over_and_keeps_being_checked() {
        let mut w = TwoWays::new(false, T);
        // One map, a trial of three, then the winner.
        let ways = drive(&mut w, 6, |way| if way { 1.0 } else { 2.0 });
        assert_eq!(ways, [false, true, true, true, true, true]);
        // The loser is tried again after 4 maps, then 8, then 16 (at most).
        let ways = drive(&mut w, 60, |way| if way { 1.0 } else { 2.0 });
        let tried: Vec<usize> = ways.iter().enumerate().filter(|(_, &way)| !way).map(|(i, _)| i).collect();
        assert_eq!(tried, [2, 3, 4, 13, 14, 15, 32, 33, 34, 51, 52, 53]);
    }

    #[test]
    fn a_way_within_the_margin_does_not_take_over() {
        let mut w = TwoWays::new(false, T);
        let ways = drive(&mut w, 40, |way| if way { 0.99 } else { 1.0 });
        assert!(!ways[4..].iter().take(3).any(|&w| w), "{ways:?}");
        assert!(ways.iter().filter(|&&w| w).count() <= 9, "{ways:?}");
    }

    #[test]
    fn a_change_of_machine_is_followed() {
        let mut w = TwoWays::new(false, T);
        drive(&mut w, 20, |way| if way { 2.0 } else { 1.0 });
        assert!(!w.next() || w.trial.is_some());
        // Now the other way is three times faster: within a few dozen maps
        // it is in favour.
        let ways = drive(&mut w, 40, |way| if way { 1.0 } else { 3.0 });
        let first = ways.iter().position(|&w| w).unwrap_or(40);
        assert!(first <= 16, "{ways:?}");
        assert!(ways[first..].iter().filter(|&&w| !w).count() <= 6, "two trials of the old way at most: {ways:?}");
    }
}
