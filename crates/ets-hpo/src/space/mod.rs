//! Search spaces: distributions, conditional parameters, and their validation.
//!
//! The JSON shape is a map `name → {"type": "float"|"int"|"categorical", ..., "condition"}`
//! whose order is kept: it is the order in which a client declared its parameters, and
//! the order samplers visit them (after parents are moved before their children).

mod distribution;
mod optuna;

pub use distribution::Distribution;
pub(crate) use distribution::{invalid, value_eq};

use crate::HpoError;
use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use std::fmt;

/// Makes a parameter active only when `parent` took one of `values`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    pub parent: String,
    pub values: Vec<Value>,
}

/// A parameter: its distribution and, for conditional spaces, when it is active.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParamDef {
    #[serde(flatten)]
    pub distribution: Distribution,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<Condition>,
}

impl From<Distribution> for ParamDef {
    fn from(distribution: Distribution) -> Self {
        Self {
            distribution,
            condition: None,
        }
    }
}

/// Ordered map name → [`ParamDef`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SearchSpace {
    params: Vec<(String, ParamDef)>,
}

impl SearchSpace {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces, keeping its place) a parameter; builder style.
    pub fn with(mut self, name: &str, def: impl Into<ParamDef>) -> Self {
        self.insert(name, def.into());
        self
    }

    /// Adds a parameter active only when `parent` is one of `values`; builder style.
    pub fn with_conditional(
        self,
        name: &str,
        distribution: Distribution,
        parent: &str,
        values: impl IntoIterator<Item = impl Into<Value>>,
    ) -> Self {
        self.with(
            name,
            ParamDef {
                distribution,
                condition: Some(Condition {
                    parent: parent.to_owned(),
                    values: values.into_iter().map(Into::into).collect(),
                }),
            },
        )
    }

    pub fn insert(&mut self, name: &str, def: ParamDef) {
        match self.params.iter_mut().find(|(n, _)| n == name) {
            Some((_, d)) => *d = def,
            None => self.params.push((name.to_owned(), def)),
        }
    }

    pub fn get(&self, name: &str) -> Option<&ParamDef> {
        self.params.iter().find(|(n, _)| n == name).map(|(_, d)| d)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &ParamDef)> {
        self.params.iter().map(|(n, d)| (n.as_str(), d))
    }

    pub fn len(&self) -> usize {
        self.params.len()
    }

    pub fn is_empty(&self) -> bool {
        self.params.is_empty()
    }

    /// Validates every distribution and condition: the parent exists, is categorical,
    /// the values are among its choices, and conditions form no cycle.
    pub fn validate(&self) -> Result<(), HpoError> {
        if self.params.is_empty() {
            return Err(HpoError::EmptySpace);
        }
        for (name, def) in &self.params {
            def.distribution.validate(name)?;
            let Some(cond) = &def.condition else { continue };
            let bad = |reason: String| HpoError::InvalidCondition {
                param: name.clone(),
                reason,
            };
            if cond.parent == *name {
                return Err(HpoError::ConditionCycle(name.clone()));
            }
            let parent = self
                .get(&cond.parent)
                .ok_or_else(|| bad(format!("parent {:?} does not exist", cond.parent)))?;
            let Distribution::Categorical { choices } = &parent.distribution else {
                return Err(bad(format!("parent {:?} is not categorical", cond.parent)));
            };
            if cond.values.is_empty() {
                return Err(bad("values must not be empty".into()));
            }
            if let Some(v) = cond
                .values
                .iter()
                .find(|v| !choices.iter().any(|c| value_eq(c, v)))
            {
                return Err(bad(format!(
                    "value {v} is not a choice of parent {:?}",
                    cond.parent
                )));
            }
        }
        self.order().map(|_| ())
    }

    /// Indices in declaration order, except that each parent comes before its children
    /// (a stable topological sort). Errors on a cycle.
    pub(crate) fn order(&self) -> Result<Vec<usize>, HpoError> {
        let idx = |name: &str| self.params.iter().position(|(n, _)| n == name);
        let mut state = vec![0u8; self.params.len()]; // 0 new, 1 visiting, 2 done
        let mut out = Vec::with_capacity(self.params.len());
        fn visit(
            i: usize,
            space: &SearchSpace,
            idx: &dyn Fn(&str) -> Option<usize>,
            state: &mut [u8],
            out: &mut Vec<usize>,
        ) -> Result<(), HpoError> {
            match state[i] {
                2 => return Ok(()),
                1 => return Err(HpoError::ConditionCycle(space.params[i].0.clone())),
                _ => {}
            }
            state[i] = 1;
            if let Some(c) = &space.params[i].1.condition
                && let Some(p) = idx(&c.parent)
            {
                visit(p, space, idx, state, out)?;
            }
            state[i] = 2;
            out.push(i);
            Ok(())
        }
        for i in 0..self.params.len() {
            visit(i, self, &idx, &mut state, &mut out)?;
        }
        Ok(out)
    }

    /// Samples the active parameters in dependency order: `pick` is called only for a
    /// parameter whose parent chain is active and matched, with the params chosen so far.
    pub(crate) fn sample_active(
        &self,
        mut pick: impl FnMut(&str, &Distribution, &crate::Params) -> Result<Value, HpoError>,
    ) -> Result<crate::Params, HpoError> {
        let mut params = crate::Params::new();
        for i in self.order()? {
            let (name, def) = &self.params[i];
            if !is_active(def, &params) {
                continue;
            }
            let v = pick(name, &def.distribution, &params)?;
            params.insert(name.clone(), v);
        }
        Ok(params)
    }

    /// Names (in declaration order) of the parameters active under `params`: a
    /// parameter is active when it is unconditional, or when its parent is itself active
    /// and took one of the condition's values. Stale values of inactive parents don't count.
    pub fn active_names(&self, params: &crate::Params) -> Vec<&str> {
        let order = self
            .order()
            .unwrap_or_else(|_| (0..self.params.len()).collect());
        let mut active = vec![false; self.params.len()];
        let mut seen = crate::Params::new();
        for i in order {
            let (name, def) = &self.params[i];
            if is_active(def, &seen) {
                active[i] = true;
                if let Some(v) = params.get(name) {
                    seen.insert(name.clone(), v.clone());
                }
            }
        }
        self.params
            .iter()
            .zip(active)
            .filter(|(_, a)| *a)
            .map(|((n, _), _)| n.as_str())
            .collect()
    }
}

impl SearchSpace {
    /// Checks params a client supplied (an enqueued or manually told trial): every active
    /// parameter present and legal, nothing else. The first problem is reported.
    pub fn check_params(&self, params: &crate::Params) -> Result<(), HpoError> {
        let active = self.active_names(params);
        for name in &active {
            let def = self.get(name).expect("active names come from the space");
            match params.get(*name) {
                None => return Err(invalid(name, "is active but has no value")),
                Some(v) if !def.distribution.contains(v) => {
                    return Err(invalid(
                        name,
                        format!("value {v} is outside the distribution"),
                    ));
                }
                Some(_) => {}
            }
        }
        if let Some(extra) = params.keys().find(|k| !active.contains(&k.as_str())) {
            let reason = if self.get(extra).is_some() {
                "is inactive under the other values and must be left out"
            } else {
                "is not in the search space"
            };
            return Err(invalid(extra, reason));
        }
        Ok(())
    }
}

/// Active when unconditional, or when the parent was sampled with one of the values
/// (a parent that is itself inactive is absent, so its children are inactive too).
pub(crate) fn is_active(def: &ParamDef, params: &crate::Params) -> bool {
    condition_met(def.condition.as_ref(), params)
}

/// Whether `condition` (none = always) holds for the params chosen so far.
pub(crate) fn condition_met(condition: Option<&Condition>, params: &crate::Params) -> bool {
    condition.is_none_or(|c| {
        params
            .get(&c.parent)
            .is_some_and(|v| c.values.iter().any(|w| value_eq(v, w)))
    })
}

impl Serialize for SearchSpace {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.params.len()))?;
        for (n, d) in &self.params {
            m.serialize_entry(n, d)?;
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for SearchSpace {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = SearchSpace;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map of parameter name to definition")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<SearchSpace, A::Error> {
                let mut space = SearchSpace::new();
                while let Some((k, v)) = a.next_entry::<String, ParamDef>()? {
                    if space.get(&k).is_some() {
                        return Err(serde::de::Error::custom(format!(
                            "duplicate parameter {k:?}"
                        )));
                    }
                    space.params.push((k, v));
                }
                Ok(space)
            }
        }
        d.deserialize_map(V)
    }
}
