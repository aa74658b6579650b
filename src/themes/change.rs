//! What changed between two sides of one theme fit: each theme's share of either side, the
//! change with a bootstrap interval over articles, and a verdict.
//!
//! Paragraphs of one article rise and fall together, so the resampled unit is the article
//! (see [`crate::Paragraph::article`]), drawn with replacement within its side. The intervals
//! are simultaneous: each is at level 1 − (1 − `level`) / k over the k themes (Bonferroni), so
//! that "every steady theme holds 0" is a statement at `level` about the whole report, not one
//! chance in twenty per theme of a change that is not there.

use rand::Rng;
use rand_xoshiro::rand_core::SeedableRng;
use serde::Serialize;

/// Which side of the comparison a paragraph is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Old,
    New,
}

/// What became of a theme from the old side to the new.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Grew, from a share under [`NEW_BELOW`] of its new one.
    New,
    /// Shrank, to a share under [`NEW_BELOW`] of its old one.
    Gone,
    Grew,
    Shrank,
    /// The change's interval holds 0.
    Steady,
}

/// A theme is new (gone) when it grew (shrank) and its share on the side it is rare on is
/// under this fraction of its share on the other: a theme of one side that the other touches
/// in passing. Every paragraph joins its nearest theme, so a theme of one side always catches
/// strays of the other: on AG News (World + Business against Business + Sports) the world
/// theme kept 4.9% of the new side beside 47.6% of the old (a tenth would call it merely
/// shrunk), while a theme both sides hold moved by at most 1.4× (see docs/themes.md).
pub const NEW_BELOW: f64 = 0.25;

/// Resamples for the intervals (2,000 keeps the simultaneous 99.x% percentiles of a handful
/// of themes on a few draws each, and costs milliseconds).
pub const DEFAULT_DRAWS: usize = 2000;

/// How intervals are drawn: resamples, level, seed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Resampling {
    pub draws: usize,
    pub level: f64,
    pub seed: u64,
}

/// One theme's change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ThemeChange {
    /// Its index among the model's top-level themes.
    pub theme: usize,
    /// Its share of the old side's paragraphs, and of the new side's.
    pub old_share: f64,
    pub new_share: f64,
    /// `new_share − old_share`, and its interval.
    pub change: f64,
    pub low: f64,
    pub high: f64,
    pub verdict: Verdict,
}

/// Every top-level theme's change, in theme order. `themes[row]` is a row's theme (`None`: an
/// outlier, counted in its side's total but in no theme), `sides[row]` its side and
/// `articles[row]` its article (any number naming it; rows of one article share it). Both
/// sides must hold rows.
pub fn changes(
    themes: &[Option<usize>],
    sides: &[Side],
    articles: &[usize],
    k: usize,
    resampling: Resampling,
) -> Vec<ThemeChange> {
    let Resampling { draws, level, seed } = resampling;
    assert!(themes.len() == sides.len() && sides.len() == articles.len());
    let old = ArticleCounts::of(themes, articles, k, |r| sides[r] == Side::Old);
    let new = ArticleCounts::of(themes, articles, k, |r| sides[r] == Side::New);
    let (old_shares, new_shares) = (old.shares(), new.shares());
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut samples: Vec<Vec<f64>> = vec![Vec::with_capacity(draws); k];
    for _ in 0..draws {
        let (o, n) = (old.resampled(&mut rng), new.resampled(&mut rng));
        for (t, sample) in samples.iter_mut().enumerate() {
            sample.push(n[t] - o[t]);
        }
    }
    let tail = (1.0 - level) / k.max(1) as f64 / 2.0;
    (0..k)
        .map(|t| {
            let sample = &mut samples[t];
            sample.sort_by(f64::total_cmp);
            let (low, high) = (quantile(sample, tail), quantile(sample, 1.0 - tail));
            let (old_share, new_share) = (old_shares[t], new_shares[t]);
            let verdict = if low > 0.0 {
                if old_share < NEW_BELOW * new_share {
                    Verdict::New
                } else {
                    Verdict::Grew
                }
            } else if high < 0.0 {
                if new_share < NEW_BELOW * old_share {
                    Verdict::Gone
                } else {
                    Verdict::Shrank
                }
            } else {
                Verdict::Steady
            };
            ThemeChange {
                theme: t,
                old_share,
                new_share,
                change: new_share - old_share,
                low,
                high,
                verdict,
            }
        })
        .collect()
}

/// Each theme's share of one period's paragraphs, with its interval.
#[derive(Debug, Clone, PartialEq)]
pub struct PeriodShares {
    pub paragraphs: usize,
    pub articles: usize,
    /// One per theme; with `outliers`, they add up to 1.
    pub shares: Vec<f64>,
    pub low: Vec<f64>,
    pub high: Vec<f64>,
    /// The share of rows in no theme.
    pub outliers: f64,
}

/// Each theme's share in each of `periods` periods (`period_of[row]`, every period holding
/// rows), with pointwise intervals at `level` from `draws` resamples of each period's articles.
pub fn shares_over_time(
    themes: &[Option<usize>],
    period_of: &[usize],
    articles: &[usize],
    k: usize,
    periods: usize,
    resampling: Resampling,
) -> Vec<PeriodShares> {
    let Resampling { draws, level, seed } = resampling;
    assert!(themes.len() == period_of.len() && period_of.len() == articles.len());
    let tail = (1.0 - level) / 2.0;
    (0..periods)
        .map(|p| {
            let counts = ArticleCounts::of(themes, articles, k, |r| period_of[r] == p);
            let shares = counts.shares();
            // One stream per period, so a period's interval does not depend on the others.
            let mut rng =
                rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(seed ^ (p as u64).rotate_left(32));
            let mut samples: Vec<Vec<f64>> = vec![Vec::with_capacity(draws); k];
            for _ in 0..draws {
                for (t, share) in counts.resampled(&mut rng).into_iter().enumerate() {
                    samples[t].push(share);
                }
            }
            let (mut low, mut high) = (Vec::with_capacity(k), Vec::with_capacity(k));
            for sample in &mut samples {
                sample.sort_by(f64::total_cmp);
                low.push(quantile(sample, tail));
                high.push(quantile(sample, 1.0 - tail));
            }
            PeriodShares {
                paragraphs: counts.totals.iter().map(|&t| t as usize).sum(),
                articles: counts.totals.len(),
                outliers: (1.0 - shares.iter().sum::<f64>()).max(0.0),
                shares,
                low,
                high,
            }
        })
        .collect()
}

/// One side's articles, each as its paragraphs per theme and in all.
struct ArticleCounts {
    per_theme: Vec<Vec<u32>>,
    totals: Vec<u32>,
}

impl ArticleCounts {
    fn of(
        themes: &[Option<usize>],
        articles: &[usize],
        k: usize,
        on_side: impl Fn(usize) -> bool,
    ) -> Self {
        let mut slot = std::collections::HashMap::new();
        let mut counts = Self {
            per_theme: Vec::new(),
            totals: Vec::new(),
        };
        for row in (0..themes.len()).filter(|&r| on_side(r)) {
            let at = *slot.entry(articles[row]).or_insert_with(|| {
                counts.per_theme.push(vec![0; k]);
                counts.totals.push(0);
                counts.totals.len() - 1
            });
            counts.totals[at] += 1;
            if let Some(t) = themes[row] {
                counts.per_theme[at][t] += 1;
            }
        }
        assert!(!counts.totals.is_empty(), "a side holds rows");
        counts
    }

    fn shares_of(&self, picks: impl Iterator<Item = usize>) -> Vec<f64> {
        let k = self.per_theme.first().map_or(0, Vec::len);
        let mut sums = vec![0u64; k];
        let mut total = 0u64;
        for a in picks {
            total += u64::from(self.totals[a]);
            for (s, &c) in sums.iter_mut().zip(&self.per_theme[a]) {
                *s += u64::from(c);
            }
        }
        sums.iter()
            .map(|&s| s as f64 / total.max(1) as f64)
            .collect()
    }

    fn shares(&self) -> Vec<f64> {
        self.shares_of(0..self.totals.len())
    }

    fn resampled(&self, rng: &mut impl Rng) -> Vec<f64> {
        let n = self.totals.len();
        self.shares_of((0..n).map(|_| rng.gen_range(0..n)))
    }
}

/// The `q` quantile of sorted values (linear between neighbours).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let at = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let (lo, hi) = (at.floor() as usize, at.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (at - lo as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draws(draws: usize, seed: u64) -> Resampling {
        Resampling {
            draws,
            level: 0.95,
            seed,
        }
    }

    /// `per_side` articles of `paragraphs` rows each per side; theme of a row by `theme_of`.
    fn rows(
        per_side: usize,
        paragraphs: usize,
        theme_of: impl Fn(Side, usize) -> Option<usize>,
    ) -> (Vec<Option<usize>>, Vec<Side>, Vec<usize>) {
        let (mut themes, mut sides, mut articles) = (Vec::new(), Vec::new(), Vec::new());
        for (s, side) in [Side::Old, Side::New].into_iter().enumerate() {
            for a in 0..per_side {
                for _ in 0..paragraphs {
                    themes.push(theme_of(side, a));
                    sides.push(side);
                    articles.push(s * per_side + a);
                }
            }
        }
        (themes, sides, articles)
    }

    #[test]
    fn verdicts_follow_the_intervals() {
        // Theme 0 on both sides alike; theme 1 old only; theme 2 new only; theme 3 twice as
        // common on the new side; theme 4 a trace on the new side.
        let (themes, sides, articles) = rows(300, 2, |side, a| match (side, a % 10) {
            (_, 0..=3) => Some(0),
            (Side::Old, 4..=6) => Some(1),
            (Side::New, 4..=6) => Some(2),
            (Side::Old, 7) => Some(3),
            (Side::Old, _) => Some(4),
            (Side::New, 7 | 8) => Some(3),
            (Side::New, _) => {
                if a % 20 == 9 {
                    Some(4)
                } else {
                    None
                }
            }
        });
        let found = changes(&themes, &sides, &articles, 5, draws(2000, 7));
        let verdicts: Vec<Verdict> = found.iter().map(|c| c.verdict).collect();
        assert_eq!(
            verdicts,
            [
                Verdict::Steady,
                Verdict::Gone,
                Verdict::New,
                Verdict::Grew,
                Verdict::Shrank
            ]
        );
        assert!((found[0].old_share - 0.4).abs() < 1e-9);
        assert!((found[3].change - 0.1).abs() < 1e-9);
        for c in &found {
            assert!(c.low <= c.change && c.change <= c.high, "{c:?}");
        }
        // The same seed, the same figures.
        assert_eq!(
            found,
            changes(&themes, &sides, &articles, 5, draws(2000, 7))
        );
    }

    #[test]
    fn shares_per_period_add_up_with_their_outliers() {
        // Period 0: articles of two rows, theme 0 and theme 1; period 1: theme 1 and an outlier.
        let themes = [Some(0), Some(1), Some(1), None, Some(0), Some(1)];
        let periods = [0, 0, 1, 1, 0, 0];
        let articles = [0, 0, 1, 1, 2, 2];
        let found = shares_over_time(&themes, &periods, &articles, 2, 2, draws(500, 3));
        assert_eq!(found[0].shares, [0.5, 0.5]);
        assert_eq!((found[0].paragraphs, found[0].articles), (4, 2));
        assert_eq!(found[1].shares, [0.0, 0.5]);
        assert_eq!(found[1].outliers, 0.5);
        for p in &found {
            let sum: f64 = p.shares.iter().sum::<f64>() + p.outliers;
            assert!((sum - 1.0).abs() < 1e-12);
            for t in 0..2 {
                assert!(p.low[t] <= p.shares[t] && p.shares[t] <= p.high[t]);
            }
        }
    }

    #[test]
    fn shuffled_sides_are_steady() {
        // One population split at random: no theme changes.
        let mut state = 12345u64;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) as usize
        };
        let n = 1000;
        let themes: Vec<Option<usize>> = (0..n).map(|_| Some(next() % 6)).collect();
        let sides: Vec<Side> = (0..n)
            .map(|_| {
                if next() % 2 == 0 {
                    Side::Old
                } else {
                    Side::New
                }
            })
            .collect();
        let articles: Vec<usize> = (0..n).collect();
        for c in changes(&themes, &sides, &articles, 6, draws(2000, 1)) {
            assert_eq!(c.verdict, Verdict::Steady, "{c:?}");
        }
    }
}
