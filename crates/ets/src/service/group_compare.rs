//! Comparing two groups of one experiment's runs (issue 14), e.g. `params.optimizer = adam`
//! against `sgd`: per metric each group's summary and the tests of [`significance`] — paired
//! when the runs come in pairs (the same seed in both groups), which removes the seed's share
//! of the variance — and the rates of requested evaluations ([`rates`]).

use std::collections::{BTreeMap, BTreeSet};

use ets_domain::comparison::{
    ComparedGroup, GroupCompareRequest, GroupComparison, GroupMetricComparison, GroupMetricStats,
    Pairing,
};
use ets_domain::model::Run;
use ets_domain::stats::summarize;
use ets_domain::validate;

use super::{Services, rates, significance};
use crate::actor::Actor;
use crate::error::{EntityKind, Error, Result};

/// The key runs are paired by when the request names none.
const DEFAULT_PAIR_BY: &str = "params.seed";
/// A run attribute addressed as `params.<key>` or `tags.<key>`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum RunKey {
    Param(String),
    Tag(String),
}

impl RunKey {
    fn parse(field: &str, text: &str) -> Result<Self> {
        let bad = || {
            Error::invalid(
                field,
                format!("'{text}' is not params.<key> or tags.<key> (e.g. params.optimizer)"),
            )
        };
        let (kind, key) = text.split_once('.').ok_or_else(bad)?;
        validate::key(field, key).map_err(|_| bad())?;
        match kind {
            "params" => Ok(Self::Param(key.to_owned())),
            "tags" => Ok(Self::Tag(key.to_owned())),
            _ => Err(bad()),
        }
    }

    /// The run's value as text (a param's JSON value without quotes for strings).
    fn of(&self, run: &Run) -> Option<String> {
        match self {
            Self::Param(key) => run.params.get(key).map(|v| match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            }),
            Self::Tag(key) => run.tags.get(key).cloned(),
        }
    }
}

/// How the request asks for pairing.
enum PairBy {
    Auto,
    Unpaired,
    By(String, RunKey),
}

/// Pairs of (baseline run index, candidate run index).
type Pairs = Vec<(usize, usize)>;

impl Services {
    /// Compares two groups of the experiment's runs, split by a param or tag value.
    pub async fn compare_groups(
        &self,
        actor: &Actor,
        experiment_id: &str,
        request: GroupCompareRequest,
    ) -> Result<GroupComparison> {
        let group_by = RunKey::parse("group_by", &request.group_by)?;
        let pair_by = match request.pair_by.as_deref() {
            None => PairBy::Auto,
            Some("none") => PairBy::Unpaired,
            Some(text) => PairBy::By(text.to_owned(), RunKey::parse("pair_by", text)?),
        };
        if let Some(groups) = &request.groups
            && (groups.len() != 2 || groups[0] == groups[1])
        {
            return Err(Error::invalid(
                "groups",
                "give two different values, the baseline first",
            ));
        }
        if let Some(keys) = &request.metrics {
            for (i, key) in keys.iter().enumerate() {
                validate::key(&format!("metrics[{i}]"), key)?;
            }
        }
        let evaluation_names = request.evaluations.as_deref().unwrap_or_default();
        rates::validate_names(evaluation_names)?;

        self.authorize(actor, EntityKind::Experiment, experiment_id)
            .await?;
        let experiment = self.store.get_experiment(experiment_id).await?;
        let runs = self.all_runs_of(experiment_id).await?;
        self.audit_run_list(&runs).await?;

        let (names, [baseline, candidate]) = split(&runs, &group_by, &request)?;
        let (pairs, pairing) = pair(&baseline, &candidate, &names, pair_by)?;

        let keys: Vec<String> = match &request.metrics {
            Some(keys) => {
                let mut seen = BTreeSet::new();
                keys.iter().filter(|k| seen.insert(*k)).cloned().collect()
            }
            None => baseline
                .iter()
                .chain(&candidate)
                .flat_map(|r| &r.metrics)
                .map(|m| m.key.clone())
                .filter(|k| !k.starts_with(super::safety::EVAL_PREFIX))
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect(),
        };
        let value = |run: &Run, key: &str| {
            run.metrics
                .iter()
                .find(|m| m.key == key)
                .map(|m| m.last_value)
        };
        // Each key's summaries and the values its tests compare (cheap); then the tests, whose
        // bootstrap resamples 10,000 times, on a blocking thread.
        let mut inputs: Vec<(GroupMetricComparisonParts, Vec<f64>, Vec<f64>)> =
            Vec::with_capacity(keys.len());
        for key in keys {
            let direction = experiment
                .objectives
                .iter()
                .find(|o| o.metric == key)
                .map(|o| o.direction);
            let all = |runs: &[&Run]| -> Vec<f64> {
                runs.iter().filter_map(|r| value(r, &key)).collect()
            };
            let by_group = vec![
                GroupMetricStats {
                    group: names[0].clone(),
                    summary: summarize(&all(&baseline)),
                },
                GroupMetricStats {
                    group: names[1].clone(),
                    summary: summarize(&all(&candidate)),
                },
            ];
            let finite = |v: Option<f64>| v.filter(|v| v.is_finite());
            let (b, c): (Vec<f64>, Vec<f64>) = if pairing.paired_by.is_some() {
                pairs
                    .iter()
                    .filter_map(|&(i, j)| {
                        finite(value(baseline[i], &key)).zip(finite(value(candidate[j], &key)))
                    })
                    .unzip()
            } else {
                let of = |runs: &[&Run]| -> Vec<f64> {
                    runs.iter().filter_map(|r| finite(value(r, &key))).collect()
                };
                (of(&baseline), of(&candidate))
            };
            inputs.push(((key, direction, by_group), b, c));
        }
        let sizes: Vec<(usize, usize)> =
            inputs.iter().map(|(_, b, c)| (b.len(), c.len())).collect();
        let paired = pairing.paired_by.is_some();
        let (baseline_name, candidate_name) = (names[0].clone(), names[1].clone());
        let mut metrics: Vec<GroupMetricComparison> = tokio::task::spawn_blocking(move || {
            inputs
                .into_iter()
                .map(|((key, direction, by_group), b, c)| GroupMetricComparison {
                    tests: significance::group_tests(
                        (&baseline_name, &b),
                        (&candidate_name, &c),
                        paired,
                    ),
                    key,
                    direction,
                    by_group,
                })
                .collect()
        })
        .await
        .map_err(Error::internal)?;
        significance::conclude_groups(&mut metrics, &sizes);

        let evaluations = rates::compare(
            evaluation_names,
            &run_metrics(&baseline),
            &run_metrics(&candidate),
        )?;
        let group = |value: &str, runs: &[&Run]| ComparedGroup {
            value: value.to_owned(),
            run_ids: runs.iter().map(|r| r.id.clone()).collect(),
        };
        Ok(GroupComparison {
            experiment_id: experiment.id,
            group_by: request.group_by,
            groups: vec![group(&names[0], &baseline), group(&names[1], &candidate)],
            pairing,
            metrics,
            evaluations,
        })
    }
}

/// A compared metric's key, direction and per-group summaries (its tests come after).
type GroupMetricComparisonParts = (
    String,
    Option<ets_domain::model::Direction>,
    Vec<GroupMetricStats>,
);

/// Each run's latest metric values, for the rates.
fn run_metrics<'a>(runs: &[&'a Run]) -> Vec<rates::RunMetrics<'a>> {
    runs.iter()
        .map(|r| {
            r.metrics
                .iter()
                .map(|m| (m.key.as_str(), m.last_value))
                .collect()
        })
        .collect()
}

/// The two groups' names and runs: the requested values, or the only two the runs take.
fn split<'a>(
    runs: &'a [Run],
    group_by: &RunKey,
    request: &GroupCompareRequest,
) -> Result<([String; 2], [Vec<&'a Run>; 2])> {
    let mut values: Vec<String> = Vec::new();
    for run in runs {
        if let Some(v) = group_by.of(run)
            && !values.contains(&v)
        {
            values.push(v);
        }
    }
    let listed = || {
        values
            .iter()
            .map(|v| format!("'{v}'"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let names: [String; 2] = match &request.groups {
        Some(groups) => {
            for (i, g) in groups.iter().enumerate() {
                if !values.contains(g) {
                    return Err(Error::invalid(
                        format!("groups[{i}]"),
                        format!(
                            "no run of the experiment has {} = '{g}'; its runs have: {}",
                            request.group_by,
                            if values.is_empty() {
                                "none".to_owned()
                            } else {
                                listed()
                            }
                        ),
                    ));
                }
            }
            [groups[0].clone(), groups[1].clone()]
        }
        None => match values.len() {
            2 => [values[0].clone(), values[1].clone()],
            0 | 1 => {
                return Err(Error::invalid(
                    "group_by",
                    format!(
                        "the experiment's runs take {} value(s) of {} ({}); two are needed to compare",
                        values.len(),
                        request.group_by,
                        listed()
                    ),
                ));
            }
            _ => {
                return Err(Error::invalid(
                    "groups",
                    format!(
                        "the runs take {} values of {} ({}); choose two in groups",
                        values.len(),
                        request.group_by,
                        listed()
                    ),
                ));
            }
        },
    };
    let members = |name: &str| -> Vec<&Run> {
        runs.iter()
            .filter(|r| group_by.of(r).as_deref() == Some(name))
            .collect()
    };
    let groups = [members(&names[0]), members(&names[1])];
    for (name, runs) in names.iter().zip(&groups) {
        if runs.len() < 2 {
            return Err(Error::invalid(
                "groups",
                format!(
                    "group '{name}' has {} run; each group needs at least 2 runs to compare",
                    runs.len()
                ),
            ));
        }
    }
    Ok((names, groups))
}

/// Matches runs of the two groups by `pair_by` (see [`GroupCompareRequest::pair_by`]).
fn pair(
    baseline: &[&Run],
    candidate: &[&Run],
    names: &[String; 2],
    pair_by: PairBy,
) -> Result<(Pairs, Pairing)> {
    let unpaired = |automatic: bool, note: String| Pairing {
        paired_by: None,
        automatic,
        pairs: 0,
        unpaired_run_ids: Vec::new(),
        note,
    };
    let (text, key, automatic) = match pair_by {
        PairBy::Unpaired => {
            return Ok((
                Vec::new(),
                unpaired(false, "unpaired, as asked (pair_by: none)".to_owned()),
            ));
        }
        PairBy::By(text, key) => (text, key, false),
        PairBy::Auto => (
            DEFAULT_PAIR_BY.to_owned(),
            RunKey::parse("pair_by", DEFAULT_PAIR_BY)?,
            true,
        ),
    };
    // Each group's runs by their pairing value; a value shared by two runs of a group is
    // ambiguous.
    let mut index: [BTreeMap<String, usize>; 2] = Default::default();
    let mut missing: Vec<String> = Vec::new();
    for (g, runs) in [baseline, candidate].into_iter().enumerate() {
        for (i, run) in runs.iter().enumerate() {
            let Some(v) = key.of(run) else {
                missing.push(run.id.clone());
                continue;
            };
            if let Some(&other) = index[g].get(&v) {
                let message = format!(
                    "runs {} and {} of group '{}' both have {text} = '{v}'; pairing needs one run per value in each group",
                    runs[other].id, run.id, names[g]
                );
                if automatic {
                    return Ok((Vec::new(), unpaired(true, format!("unpaired: {message}"))));
                }
                return Err(Error::invalid("pair_by", message));
            }
            index[g].insert(v, i);
        }
    }
    // In the baseline runs' order, so the bootstrap resamples the same list every time.
    let mut pairs: Pairs = index[0]
        .iter()
        .filter_map(|(v, &i)| index[1].get(v).map(|&j| (i, j)))
        .collect();
    pairs.sort_unstable();
    let paired_b: BTreeSet<usize> = pairs.iter().map(|p| p.0).collect();
    let paired_c: BTreeSet<usize> = pairs.iter().map(|p| p.1).collect();
    let left: Vec<String> = baseline
        .iter()
        .enumerate()
        .filter(|(i, _)| !paired_b.contains(i))
        .chain(
            candidate
                .iter()
                .enumerate()
                .filter(|(j, _)| !paired_c.contains(j)),
        )
        .map(|(_, r)| r.id.clone())
        .collect();
    if automatic {
        if !left.is_empty() {
            let why = if missing.is_empty() {
                format!("{} run(s) have no partner with the same {text}", left.len())
            } else {
                format!("{} run(s) have no {text}", missing.len())
            };
            return Ok((Vec::new(), unpaired(true, format!("unpaired: {why}"))));
        }
    } else if pairs.len() < 2 {
        return Err(Error::invalid(
            "pair_by",
            format!(
                "{} pair(s) of runs share a value of {text}; paired tests need at least 2",
                pairs.len()
            ),
        ));
    }
    let note = if automatic {
        format!(
            "paired by {text}: every run of both groups has its own {text}, shared with the other group"
        )
    } else {
        format!(
            "paired by {text}, as asked: {} pair(s), {} run(s) left out of the paired tests",
            pairs.len(),
            left.len()
        )
    };
    let pairing = Pairing {
        paired_by: Some(text),
        automatic,
        pairs: pairs.len(),
        unpaired_run_ids: left,
        note,
    };
    Ok((pairs, pairing))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_by_is_params_or_tags_and_a_key() {
        assert_eq!(
            RunKey::parse("group_by", "params.optimizer").unwrap(),
            RunKey::Param("optimizer".into())
        );
        assert_eq!(
            RunKey::parse("group_by", "tags.team.name").unwrap(),
            RunKey::Tag("team.name".into())
        );
        for bad in ["optimizer", "metrics.acc", "params.", "params"] {
            let err = RunKey::parse("group_by", bad).unwrap_err();
            assert!(err.to_string().contains("params.<key>"), "{bad}: {err}");
        }
    }
}
