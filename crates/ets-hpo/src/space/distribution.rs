//! One parameter's domain: its JSON form, Optuna's validation rules, and the internal
//! (numeric) representation samplers work in.

use crate::HpoError;
use serde::{Deserialize, Serialize};
use serde_json::Value;

fn one() -> i64 {
    1
}

fn is_one(x: &i64) -> bool {
    *x == 1
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// One parameter's domain, as Optuna's `FloatDistribution`, `IntDistribution` and
/// `CategoricalDistribution`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Distribution {
    /// `low..=high`; `log` samples uniformly in log space; `step` makes it discrete
    /// (`low, low+step, ...`). `log` and `step` are exclusive, as in Optuna.
    Float {
        low: f64,
        high: f64,
        #[serde(default, skip_serializing_if = "is_false")]
        log: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        step: Option<f64>,
    },
    /// Integers `low..=high` by `step` (default 1); `log` requires `step == 1`.
    Int {
        low: i64,
        high: i64,
        #[serde(default, skip_serializing_if = "is_false")]
        log: bool,
        #[serde(default = "one", skip_serializing_if = "is_one")]
        step: i64,
    },
    /// One of `choices` (null, bool, number or string, as Optuna allows).
    Categorical { choices: Vec<Value> },
}

/// Compares JSON values with numbers compared numerically (so `1` matches `1.0`).
pub(crate) fn value_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

pub(crate) fn invalid(param: &str, reason: impl Into<String>) -> HpoError {
    HpoError::InvalidDistribution {
        param: param.to_owned(),
        reason: reason.into(),
    }
}

impl Distribution {
    pub fn float(low: f64, high: f64) -> Self {
        Self::Float {
            low,
            high,
            log: false,
            step: None,
        }
    }

    /// Log-uniform float (Optuna's `suggest_float(..., log=True)`).
    pub fn float_log(low: f64, high: f64) -> Self {
        Self::Float {
            low,
            high,
            log: true,
            step: None,
        }
    }

    /// Float on the grid `low, low + step, ..., high`.
    pub fn float_step(low: f64, high: f64, step: f64) -> Self {
        Self::Float {
            low,
            high,
            log: false,
            step: Some(step),
        }
    }

    /// Integer on the grid `low, low + step, ..., high`.
    pub fn int_step(low: i64, high: i64, step: i64) -> Self {
        Self::Int {
            low,
            high,
            log: false,
            step,
        }
    }

    /// Log-uniform integer.
    pub fn int_log(low: i64, high: i64) -> Self {
        Self::Int {
            low,
            high,
            log: true,
            step: 1,
        }
    }

    pub fn int(low: i64, high: i64) -> Self {
        Self::Int {
            low,
            high,
            log: false,
            step: 1,
        }
    }

    pub fn categorical(choices: impl IntoIterator<Item = impl Into<Value>>) -> Self {
        Self::Categorical {
            choices: choices.into_iter().map(Into::into).collect(),
        }
    }

    /// Checks the rules Optuna enforces. Where Optuna silently lowers `high` to the last
    /// step, this refuses and names the value to use instead: a server should store the
    /// space the client meant, not a quietly changed one.
    pub fn validate(&self, name: &str) -> Result<(), HpoError> {
        match self {
            Self::Float {
                low,
                high,
                log,
                step,
            } => {
                if !low.is_finite() || !high.is_finite() {
                    return Err(invalid(name, "low and high must be finite"));
                }
                if low > high {
                    return Err(invalid(
                        name,
                        format!("low ({low}) must be <= high ({high})"),
                    ));
                }
                if *log && *low <= 0.0 {
                    return Err(invalid(name, format!("log needs low > 0, got low={low}")));
                }
                if let Some(step) = step {
                    if *log {
                        return Err(invalid(name, "step and log cannot be used together"));
                    }
                    if !step.is_finite() || *step <= 0.0 {
                        return Err(invalid(name, format!("step must be > 0, got {step}")));
                    }
                    let n = ((high - low) / step).round();
                    let last = low + n * step;
                    if ((high - low) / step - n).abs() > 1e-8 {
                        let fixed = low + ((high - low) / step).floor() * step;
                        return Err(invalid(
                            name,
                            format!(
                                "range {low}..{high} is not divisible by step {step} (use high={fixed})"
                            ),
                        ));
                    }
                    debug_assert!((last - high).abs() <= 1e-6 * step.max(1.0));
                }
                Ok(())
            }
            Self::Int {
                low,
                high,
                log,
                step,
            } => {
                if low > high {
                    return Err(invalid(
                        name,
                        format!("low ({low}) must be <= high ({high})"),
                    ));
                }
                if *step < 1 {
                    return Err(invalid(name, format!("step must be >= 1, got {step}")));
                }
                if *log && *step != 1 {
                    return Err(invalid(name, "log needs step == 1"));
                }
                if *log && *low < 1 {
                    return Err(invalid(name, format!("log needs low >= 1, got low={low}")));
                }
                if (high - low) % step != 0 {
                    let fixed = low + (high - low) / step * step;
                    return Err(invalid(
                        name,
                        format!(
                            "range {low}..{high} is not divisible by step {step} (use high={fixed})"
                        ),
                    ));
                }
                Ok(())
            }
            Self::Categorical { choices } => {
                if choices.is_empty() {
                    return Err(invalid(name, "choices must not be empty"));
                }
                if choices
                    .iter()
                    .any(|c| matches!(c, Value::Array(_) | Value::Object(_)))
                {
                    return Err(invalid(
                        name,
                        "choices must be null, bool, number or string",
                    ));
                }
                for (i, c) in choices.iter().enumerate() {
                    if choices[..i].iter().any(|d| value_eq(c, d)) {
                        return Err(invalid(name, format!("duplicate choice {c}")));
                    }
                }
                Ok(())
            }
        }
    }

    /// Optuna's "internal representation": the number itself, or the choice index.
    pub fn to_internal(&self, value: &Value) -> Option<f64> {
        match self {
            Self::Float { .. } | Self::Int { .. } => value.as_f64(),
            Self::Categorical { choices } => choices
                .iter()
                .position(|c| value_eq(c, value))
                .map(|i| i as f64),
        }
    }

    /// Back from the internal representation, snapped to the grid and clipped to bounds.
    pub fn to_external(&self, x: f64) -> Value {
        match self {
            Self::Float {
                low, high, step, ..
            } => {
                let v = match step {
                    Some(s) => (low + ((x - low) / s).round() * s).clamp(*low, *high),
                    None => x.clamp(*low, *high),
                };
                serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number)
            }
            Self::Int {
                low, high, step, ..
            } => {
                let k = ((x - *low as f64) / *step as f64).round() as i64;
                Value::from((low + k * step).clamp(*low, *high))
            }
            Self::Categorical { choices } => {
                let i = (x.round().max(0.0) as usize).min(choices.len() - 1);
                choices[i].clone()
            }
        }
    }

    /// Whether `value` is a legal value of this distribution (on the step grid, in bounds).
    pub fn contains(&self, value: &Value) -> bool {
        match self {
            Self::Float {
                low, high, step, ..
            } => value.as_f64().is_some_and(|v| {
                v >= *low
                    && v <= *high
                    && step.is_none_or(|s| {
                        let k = (v - low) / s;
                        (k - k.round()).abs() < 1e-6
                    })
            }),
            Self::Int {
                low, high, step, ..
            } => value
                .as_i64()
                .is_some_and(|v| v >= *low && v <= *high && (v - low) % step == 0),
            Self::Categorical { choices } => choices.iter().any(|c| value_eq(c, value)),
        }
    }

    /// (low, high, log, step) of a float or int (ints always have a step), else `None`.
    pub(crate) fn numeric(&self) -> Option<(f64, f64, bool, Option<f64>)> {
        match self {
            Self::Float {
                low,
                high,
                log,
                step,
            } => Some((*low, *high, *log, *step)),
            Self::Int {
                low,
                high,
                log,
                step,
            } => Some((*low as f64, *high as f64, *log, Some(*step as f64))),
            Self::Categorical { .. } => None,
        }
    }

    /// True when only one value is possible (Optuna's `single()`).
    pub fn is_single(&self) -> bool {
        match self {
            Self::Float { low, high, .. } => low == high,
            Self::Int { low, high, .. } => low == high,
            Self::Categorical { choices } => choices.len() == 1,
        }
    }
}
