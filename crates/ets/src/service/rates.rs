//! Rates from evaluation counts compared between two sides (issue 14): each side's
//! `eval/<name>/<slice>/<count>` counts summed over its runs, per slice, read as the rates the
//! safety verdicts use ([`safety::rates`]), and tested with the two-proportion z-test and
//! Fisher's exact test.

use std::collections::BTreeSet;

use ets_domain::comparison::{FisherTest, RateComparison, RateSide, ZTest};
use ets_domain::model::Direction;
use ets_domain::validate;
use ets_stats::tests::{fisher_exact, two_proportion_z_test};

use super::safety::{self, CRISIS_DETECTION, EVAL_PREFIX, EvaluationCounts, RESPONSE_QUALITY};
use super::significance::{Evidence, verdict};
use crate::error::{Error, Result};

/// The slice of the whole population.
const OVERALL: &str = "overall";

/// A run's latest metric values: (key, value).
pub type RunMetrics<'a> = Vec<(&'a str, f64)>;

/// Checks the requested evaluation names: valid keys, known rates, each once.
pub fn validate_names(names: &[String]) -> Result<()> {
    let mut seen = BTreeSet::new();
    for (i, name) in names.iter().enumerate() {
        let field = format!("evaluations[{i}]");
        validate::key(&field, name)?;
        if ![CRISIS_DETECTION, RESPONSE_QUALITY].contains(&name.as_str()) {
            return Err(Error::invalid(
                field,
                format!(
                    "'{name}' defines no rate; compare {CRISIS_DETECTION} or {RESPONSE_QUALITY}"
                ),
            ));
        }
        if !seen.insert(name) {
            return Err(Error::invalid(field, format!("'{name}' is asked twice")));
        }
    }
    Ok(())
}

/// One side's counts of evaluation `name`: per slice, the sum
/// over the runs and how many runs recorded it.
fn side_counts(name: &str, runs: &[RunMetrics]) -> Result<Vec<(EvaluationCounts, usize)>> {
    let prefix = format!("{EVAL_PREFIX}{name}/");
    let mut out: Vec<(EvaluationCounts, usize)> = Vec::new();
    for run in runs {
        let counts = safety::counts_from_metrics(
            run.iter()
                .filter(|(key, _)| key.starts_with(&prefix))
                .copied(),
        )
        .map_err(Error::BadRequest)?;
        for c in counts {
            let index = match out.iter().position(|(e, _)| e.slice == c.slice) {
                Some(i) => i,
                None => {
                    out.push((
                        EvaluationCounts {
                            name: c.name.clone(),
                            slice: c.slice.clone(),
                            ..EvaluationCounts::default()
                        },
                        0,
                    ));
                    out.len() - 1
                }
            };
            let (sum, runs) = &mut out[index];
            sum.tp = sum.tp.saturating_add(c.tp);
            sum.fn_ = sum.fn_.saturating_add(c.fn_);
            sum.fp = sum.fp.saturating_add(c.fp);
            sum.tn = sum.tn.saturating_add(c.tn);
            sum.successes = sum.successes.saturating_add(c.successes);
            sum.trials = sum.trials.saturating_add(c.trials);
            *runs += 1;
        }
    }
    Ok(out)
}

/// Every rate of every requested evaluation and slice (`overall` first), candidate against
/// baseline.
pub fn compare(
    names: &[String],
    baseline: &[RunMetrics],
    candidate: &[RunMetrics],
) -> Result<Vec<RateComparison>> {
    let mut out = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let base = side_counts(name, baseline)?;
        let cand = side_counts(name, candidate)?;
        if base.is_empty() && cand.is_empty() {
            return Err(Error::invalid(
                format!("evaluations[{i}]"),
                format!(
                    "no run of either side recorded '{name}' (metrics {EVAL_PREFIX}{name}/<slice>/<count>)"
                ),
            ));
        }
        let mut slices: Vec<&str> = base.iter().map(|(e, _)| e.slice.as_str()).collect();
        for (e, _) in &cand {
            if !slices.contains(&e.slice.as_str()) {
                slices.push(&e.slice);
            }
        }
        // `overall` first, then the slices by name.
        slices.sort_by_key(|s| (*s != OVERALL, *s));
        let of = |side: &[(EvaluationCounts, usize)], slice: &str| {
            side.iter()
                .find(|(e, _)| e.slice == slice)
                .cloned()
                .unwrap_or_else(|| {
                    let empty = EvaluationCounts {
                        name: name.clone(),
                        slice: slice.to_owned(),
                        ..EvaluationCounts::default()
                    };
                    (empty, 0)
                })
        };
        for slice in slices {
            let (b, b_runs) = of(&base, slice);
            let (c, c_runs) = of(&cand, slice);
            for (rb, rc) in safety::rates(&b).into_iter().zip(safety::rates(&c)) {
                for r in [&rb, &rc] {
                    if r.successes > r.trials {
                        return Err(Error::BadRequest(format!(
                            "{name} ({slice}): {} counts {} of {} cases; fix the runs' counts",
                            r.name, r.successes, r.trials
                        )));
                    }
                }
                out.push(rate_comparison(name, slice, (rb, b_runs), (rc, c_runs)));
            }
        }
    }
    Ok(out)
}

fn rate_comparison(
    name: &str,
    slice: &str,
    (b, b_runs): (safety::Rate, usize),
    (c, c_runs): (safety::Rate, usize),
) -> RateComparison {
    let side = |r: &safety::Rate, runs| RateSide {
        successes: r.successes,
        trials: r.trials,
        rate: (r.trials > 0).then(|| r.successes as f64 / r.trials as f64),
        runs,
    };
    let (baseline, candidate) = (side(&b, b_runs), side(&c, c_runs));
    let z = two_proportion_z_test(c.successes, c.trials, b.successes, b.trials).ok();
    let fisher = fisher_exact(
        c.successes,
        c.trials - c.successes,
        b.successes,
        b.trials - b.successes,
    );
    let direction = if b.higher_is_better {
        Direction::Maximize
    } else {
        Direction::Minimize
    };
    let difference = candidate.rate.zip(baseline.rate).map(|(c, b)| c - b);
    let verdict = if b.trials == 0 || c.trials == 0 {
        format!(
            "no cases to compare: {} against {} (each side needs at least 1)",
            c.trials, b.trials
        )
    } else {
        verdict(&Evidence {
            difference,
            ci: None,
            test: "Fisher",
            p_value: Some(fisher.p_value),
            p_adjusted: None,
            direction: Some(direction),
        })
    };
    RateComparison {
        evaluation: name.to_owned(),
        slice: slice.to_owned(),
        rate: b.name.to_owned(),
        direction,
        baseline,
        candidate,
        difference,
        z_test: ZTest {
            statistic: z.as_ref().and_then(|z| z.statistic),
            p_value: z.as_ref().and_then(|z| z.p_value),
        },
        fisher_exact: FisherTest {
            odds_ratio: fisher.odds_ratio,
            p_value: fisher.p_value,
        },
        verdict,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_summed_per_slice_over_runs() {
        let one = vec![
            ("eval/crisis_detection/overall/tp", 9.0),
            ("eval/crisis_detection/overall/fn", 1.0),
            ("eval/crisis_detection/age 65 and over/tp", 3.0),
            ("eval/response_quality/overall/trials", 5.0),
            ("acc", 0.5),
        ];
        let two = vec![
            ("eval/crisis_detection/overall/tp", 8.0),
            ("eval/crisis_detection/overall/fn", 2.0),
        ];
        let counts = side_counts("crisis_detection", &[one, two]).unwrap();
        assert_eq!(counts.len(), 2);
        assert_eq!((counts[0].0.tp, counts[0].0.fn_, counts[0].1), (17, 3, 2));
        assert_eq!(
            (counts[1].0.slice.as_str(), counts[1].1),
            ("age 65 and over", 1)
        );
    }

    #[test]
    fn unknown_names_and_missing_counts_name_the_field() {
        let err = validate_names(&["toxicity".into()]).unwrap_err();
        assert!(err.to_string().contains("defines no rate"), "{err}");
        let err = compare(&["crisis_detection".into()], &[vec![]], &[vec![]]).unwrap_err();
        assert!(err.to_string().contains("no run of either side"), "{err}");
    }
}
