//! A study's trials with each parameter also kept as a column of internal values.
//!
//! Reading a parameter out of 10,000 trials' JSON maps (a string-keyed lookup, then the
//! number or the choice index) costs more than fitting TPE's estimators to them, so a
//! server that keeps a [`History`] between asks converts each trial once, when it arrives.

use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash, Hasher};

use crate::{Distribution, SearchSpace, Trial};

/// Trials by number, with one column of internal values per tracked parameter.
#[derive(Debug, Clone)]
pub struct History {
    trials: Vec<Trial>,
    columns: Columns,
    /// Per trial, a hash of everything a sampler reads of it, and the hash of the whole
    /// prefix up to it: state kept between asks (TPE's) checks in O(1) that the trials it
    /// took in are still the history's.
    hashes: Vec<u64>,
    chain: Vec<u64>,
}

/// Internal values of parameters, index-aligned with a trial list.
#[derive(Debug, Clone, Default)]
pub(crate) struct Columns {
    by_name: BTreeMap<String, Column>,
    /// Whether numerical columns also keep their positions sorted by value (a `History`'s
    /// do, while its trials arrive in number order).
    sorted: bool,
}

#[derive(Debug, Clone)]
struct Column {
    distribution: Distribution,
    /// The trial's value in the internal representation; NaN when the trial lacks the
    /// parameter or holds a value outside the distribution (samplers skip both alike).
    values: Vec<f64>,
    /// Positions of the values that are there, by value, ties by position: TPE's kernel
    /// order, kept up to date by insertion instead of sorting 10,000 values per ask.
    sorted: Option<Vec<u32>>,
}

impl Column {
    fn new(distribution: Distribution, values: Vec<f64>, keep_sorted: bool) -> Self {
        let numeric = !matches!(distribution, Distribution::Categorical { .. });
        let sorted = (keep_sorted && numeric).then(|| {
            let mut keyed: Vec<(f64, u32)> = values
                .iter()
                .zip(0..)
                .filter(|(v, _)| !v.is_nan())
                .map(|(v, i)| (*v, i))
                .collect();
            keyed.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            keyed.into_iter().map(|(_, i)| i).collect()
        });
        Self {
            distribution,
            values,
            sorted,
        }
    }

    fn push(&mut self, v: f64) {
        let position = self.values.len() as u32;
        self.values.push(v);
        if let Some(sorted) = self.sorted.as_mut().filter(|_| !v.is_nan()) {
            // After every equal value: the new position is the largest.
            let at = sorted.partition_point(|q| self.values[*q as usize] <= v);
            sorted.insert(at, position);
        }
    }

    fn truncate(&mut self, len: usize) {
        self.values.truncate(len);
        if let Some(sorted) = &mut self.sorted {
            sorted.retain(|q| (*q as usize) < len);
        }
    }
}

fn hash_of(value: &impl Hash) -> u64 {
    let mut hasher = DefaultHasher::new();
    value.hash(&mut hasher);
    hasher.finish()
}

/// A hash of what samplers and pruners read of a trial.
fn trial_hash(trial: &Trial) -> u64 {
    let mut h = DefaultHasher::new();
    trial.number.hash(&mut h);
    (trial.state as u8).hash(&mut h);
    let bits = |v: &f64| v.to_bits();
    trial
        .values
        .as_ref()
        .map(|v| v.iter().map(bits).collect::<Vec<_>>())
        .hash(&mut h);
    for (step, v) in &trial.intermediate {
        (step, bits(v)).hash(&mut h);
    }
    for (name, v) in &trial.params {
        name.hash(&mut h);
        hash_json(v, &mut h);
    }
    h.finish()
}

fn hash_json(v: &serde_json::Value, h: &mut DefaultHasher) {
    use serde_json::Value;
    std::mem::discriminant(v).hash(h);
    match v {
        Value::Null => {}
        Value::Bool(b) => b.hash(h),
        Value::Number(n) => (n.as_i64(), n.as_u64(), n.as_f64().map(f64::to_bits)).hash(h),
        Value::String(s) => s.hash(h),
        Value::Array(items) => {
            items.len().hash(h);
            items.iter().for_each(|item| hash_json(item, h));
        }
        Value::Object(map) => {
            map.len().hash(h);
            map.iter().for_each(|(k, item)| {
                k.hash(h);
                hash_json(item, h);
            });
        }
    }
}

/// `value`'s internal form under `d`, NaN when absent or not legal.
fn internal(d: &Distribution, trial: &Trial, name: &str) -> f64 {
    match trial.params.get(name) {
        Some(v) if d.contains(v) => d.to_internal(v).unwrap_or(f64::NAN),
        _ => f64::NAN,
    }
}

impl Columns {
    /// Columns for every parameter of `space` over `trials`.
    pub(crate) fn of(space: &SearchSpace, trials: &[Trial]) -> Self {
        let mut columns = Self::default();
        columns.track(space, trials);
        columns
    }

    /// Adds a column for each parameter of `space` not tracked under that distribution.
    fn track(&mut self, space: &SearchSpace, trials: &[Trial]) {
        for (name, def) in space.iter() {
            let d = &def.distribution;
            if self.by_name.get(name).is_some_and(|c| &c.distribution == d) {
                continue;
            }
            let values = trials.iter().map(|t| internal(d, t, name)).collect();
            let column = Column::new(d.clone(), values, self.sorted);
            self.by_name.insert(name.to_owned(), column);
        }
    }

    fn push(&mut self, trial: &Trial) {
        for (name, c) in &mut self.by_name {
            c.push(internal(&c.distribution, trial, name));
        }
    }

    fn truncate(&mut self, len: usize) {
        self.by_name.values_mut().for_each(|c| c.truncate(len));
    }

    /// Positions of `name`'s values sorted by value (ties by position), when kept.
    pub(crate) fn sorted(&self, name: &str) -> Option<&[u32]> {
        self.by_name.get(name)?.sorted.as_deref()
    }

    /// Stops keeping sorted positions (trials no longer arrive in number order).
    fn forget_sorted(&mut self) {
        self.sorted = false;
        self.by_name.values_mut().for_each(|c| c.sorted = None);
    }

    /// The column of `name` when it was built for distribution `d`.
    pub(crate) fn get(&self, name: &str, d: &Distribution) -> Option<&[f64]> {
        self.by_name
            .get(name)
            .filter(|c| &c.distribution == d)
            .map(|c| c.values.as_slice())
    }

    /// Whether every parameter of `space` has its column.
    pub(crate) fn covers(&self, space: &SearchSpace) -> bool {
        space
            .iter()
            .all(|(name, def)| self.get(name, &def.distribution).is_some())
    }
}

impl Default for History {
    fn default() -> Self {
        Self {
            trials: Vec::new(),
            columns: Columns {
                sorted: true,
                ..Columns::default()
            },
            hashes: Vec::new(),
            chain: Vec::new(),
        }
    }
}

impl History {
    pub fn new() -> Self {
        Self::default()
    }

    /// Every trial, in the order pushed (by number, for a server).
    pub fn trials(&self) -> &[Trial] {
        &self.trials
    }

    /// Keeps a column for every parameter of `space` from now on (computed now for the
    /// trials already held); samplers given this space then read the columns.
    pub fn track(&mut self, space: &SearchSpace) {
        self.columns.track(space, &self.trials);
    }

    /// Whether a column is kept for every parameter of `space` ([`track`](Self::track)).
    pub fn tracks(&self, space: &SearchSpace) -> bool {
        self.columns.covers(space)
    }

    /// Adds a trial; trials are expected by number (sorted columns are dropped
    /// otherwise: TPE breaks ties between equal values by number).
    pub fn push(&mut self, trial: Trial) {
        if self.trials.last().is_some_and(|t| t.number >= trial.number) {
            self.columns.forget_sorted();
        }
        self.columns.push(&trial);
        let hash = trial_hash(&trial);
        let before = self.chain.last().copied().unwrap_or(0);
        self.chain.push(hash_of(&(before, hash)));
        self.hashes.push(hash);
        self.trials.push(trial);
    }

    /// Keeps the first `len` trials.
    pub fn truncate(&mut self, len: usize) {
        self.trials.truncate(len);
        self.columns.truncate(len);
        self.hashes.truncate(len);
        self.chain.truncate(len);
    }

    pub(crate) fn columns(&self) -> &Columns {
        &self.columns
    }

    /// A hash of the first `len` trials (`None` past the end): equal for two histories
    /// whose first `len` trials are the same (but for a 64-bit collision).
    pub(crate) fn fingerprint(&self, len: usize) -> Option<u64> {
        match len {
            0 => Some(0),
            _ => self.chain.get(len - 1).copied(),
        }
    }

    /// A hash of the trial at position `p`.
    pub(crate) fn trial_hash(&self, p: usize) -> u64 {
        self.hashes[p]
    }

    /// Whether the trials are in number order (as a server pushes them).
    pub(crate) fn in_number_order(&self) -> bool {
        self.columns.sorted
    }

    /// The position of trial `number`, in a history in number order.
    pub(crate) fn position_of(&self, number: u64) -> Option<usize> {
        debug_assert!(self.in_number_order());
        self.trials.binary_search_by_key(&number, |t| t.number).ok()
    }
}

impl From<Vec<Trial>> for History {
    fn from(trials: Vec<Trial>) -> Self {
        let mut history = Self::new();
        trials.into_iter().for_each(|t| history.push(t));
        history
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TrialState;
    use serde_json::json;

    fn trial(number: u64, params: serde_json::Value) -> Trial {
        let mut t = Trial::new(number, TrialState::Complete);
        t.params = serde_json::from_value(params).unwrap();
        t
    }

    #[test]
    fn columns_follow_pushes_truncation_and_the_distribution() {
        let space = SearchSpace::new()
            .with("x", Distribution::float(0.0, 1.0))
            .with("c", Distribution::categorical(["a", "b"]));
        let mut h = History::new();
        h.push(trial(0, json!({"x": 0.5, "c": "b"})));
        h.track(&space);
        h.push(trial(1, json!({"x": 2.0})));
        h.push(trial(2, json!({"x": 0.25, "c": "a"})));
        let x = &space.get("x").unwrap().distribution;
        let c = &space.get("c").unwrap().distribution;
        let col = |h: &History, n, d| h.columns().get(n, d).unwrap().to_vec();
        // Out of range (2.0) and absent read as NaN.
        assert_eq!(col(&h, "x", x)[0], 0.5);
        assert!(col(&h, "x", x)[1].is_nan());
        assert_eq!(col(&h, "x", x)[2], 0.25);
        assert_eq!(col(&h, "c", c)[0], 1.0);
        assert!(col(&h, "c", c)[1].is_nan());
        assert_eq!(col(&h, "c", c)[2], 0.0);
        // Numbers keep their positions by value (absent ones left out); choices do not.
        assert_eq!(h.columns().sorted("x"), Some(&[2, 0][..]));
        assert_eq!(h.columns().sorted("c"), None);
        h.push(trial(3, json!({"x": 0.25})));
        assert_eq!(
            h.columns().sorted("x"),
            Some(&[2, 3, 0][..]),
            "ties by position"
        );
        h.truncate(3);
        assert_eq!(h.columns().sorted("x"), Some(&[2, 0][..]));
        h.truncate(1);
        assert_eq!(h.trials().len(), 1);
        assert_eq!(col(&h, "x", x), vec![0.5]);
        // Another distribution under the same name is not served from the old column.
        let wider = Distribution::float(0.0, 5.0);
        assert!(h.columns().get("x", &wider).is_none());
        assert!(h.columns().covers(&space));
        let space2 = SearchSpace::new().with("x", wider.clone());
        assert!(!h.columns().covers(&space2));
        h.track(&space2);
        assert_eq!(h.columns().get("x", &wider).unwrap(), &[0.5]);
        assert_eq!(h.columns().sorted("x"), Some(&[0][..]));
        // A trial out of number order: positions no longer follow numbers, so sorted
        // positions (whose ties TPE reads as number order) are dropped, not kept wrong.
        h.push(trial(0, json!({"x": 0.1})));
        assert_eq!(h.columns().sorted("x"), None);
        assert_eq!(h.columns().get("x", &wider).unwrap(), &[0.5, 0.1]);
    }
}
