//! Distributions as Optuna's storages exchange them: `distribution_to_json` /
//! `json_to_distribution` (`{"name": "FloatDistribution", "attributes": {...}}`, the
//! pre-3.0 names read too), values in the internal representation (a categorical's index),
//! and the rule that one parameter name keeps one kind of distribution within a study
//! (`check_distribution_compatibility`).

use serde_json::{Value, json};

use super::distribution::{Distribution, invalid, value_eq};
use crate::HpoError;

fn number(attrs: &Value, key: &str, param: &str) -> Result<f64, HpoError> {
    attrs[key]
        .as_f64()
        .ok_or_else(|| invalid(param, format!("attribute {key:?} must be a number")))
}

fn integer(attrs: &Value, key: &str, param: &str, default: Option<i64>) -> Result<i64, HpoError> {
    match &attrs[key] {
        Value::Null if default.is_some() => Ok(default.unwrap_or_default()),
        v => v
            .as_i64()
            .or_else(|| v.as_f64().filter(|x| x.fract() == 0.0).map(|x| x as i64))
            .ok_or_else(|| invalid(param, format!("attribute {key:?} must be an integer"))),
    }
}

fn flag(attrs: &Value, key: &str) -> bool {
    attrs[key].as_bool().unwrap_or(false)
}

impl Distribution {
    /// Reads Optuna's JSON form of a distribution (`param` names it in errors). The result is
    /// validated as Optuna validates it.
    pub fn from_optuna_json(param: &str, text: &str) -> Result<Distribution, HpoError> {
        let doc: Value = serde_json::from_str(text)
            .map_err(|e| invalid(param, format!("distribution is not JSON: {e}")))?;
        let attrs = &doc["attributes"];
        let name = doc["name"].as_str().unwrap_or_default();
        let distribution = match name {
            "FloatDistribution" => Distribution::Float {
                low: number(attrs, "low", param)?,
                high: number(attrs, "high", param)?,
                log: flag(attrs, "log"),
                step: attrs["step"].as_f64(),
            },
            "UniformDistribution" => {
                Distribution::float(number(attrs, "low", param)?, number(attrs, "high", param)?)
            }
            "LogUniformDistribution" => {
                Distribution::float_log(number(attrs, "low", param)?, number(attrs, "high", param)?)
            }
            "DiscreteUniformDistribution" => Distribution::float_step(
                number(attrs, "low", param)?,
                number(attrs, "high", param)?,
                number(attrs, "q", param)?,
            ),
            "IntDistribution" | "IntUniformDistribution" | "IntLogUniformDistribution" => {
                Distribution::Int {
                    low: integer(attrs, "low", param, None)?,
                    high: integer(attrs, "high", param, None)?,
                    log: flag(attrs, "log") || name == "IntLogUniformDistribution",
                    step: integer(attrs, "step", param, Some(1))?,
                }
            }
            "CategoricalDistribution" => Distribution::Categorical {
                choices: attrs["choices"]
                    .as_array()
                    .cloned()
                    .ok_or_else(|| invalid(param, "attribute \"choices\" must be a list"))?,
            },
            other => {
                return Err(invalid(
                    param,
                    format!(
                        "unknown distribution {other:?}: use FloatDistribution, IntDistribution or CategoricalDistribution"
                    ),
                ));
            }
        };
        distribution.validate(param)?;
        Ok(distribution)
    }

    /// Optuna's JSON form, as `optuna.distributions.distribution_to_json` writes it.
    pub fn to_optuna_json(&self) -> String {
        let doc = match self {
            Distribution::Float {
                low,
                high,
                log,
                step,
            } => json!({"name": "FloatDistribution",
                "attributes": {"step": step, "low": low, "high": high, "log": log}}),
            Distribution::Int {
                low,
                high,
                log,
                step,
            } => json!({"name": "IntDistribution",
                "attributes": {"log": log, "step": step, "low": low, "high": high}}),
            Distribution::Categorical { choices } => {
                json!({"name": "CategoricalDistribution", "attributes": {"choices": choices}})
            }
        };
        doc.to_string()
    }

    /// The value of internal representation `x` exactly (no snapping to the grid): the
    /// number, the integer, or the choice at that index; `None` when `x` names no value.
    pub fn external_of_internal(&self, x: f64) -> Option<Value> {
        match self {
            Distribution::Float { .. } => serde_json::Number::from_f64(x).map(Value::Number),
            Distribution::Int { .. } => {
                (x.is_finite() && x.fract() == 0.0).then(|| Value::from(x as i64))
            }
            Distribution::Categorical { choices } => (x >= 0.0 && x.fract() == 0.0)
                .then(|| choices.get(x as usize).cloned())
                .flatten(),
        }
    }

    /// Whether `new` may follow `self` for the same parameter name of a study: the same
    /// kind, the same log scale, and for categoricals the same choices (Optuna's
    /// `check_distribution_compatibility`, with its messages).
    pub fn check_compatible(&self, new: &Distribution) -> Result<(), String> {
        match (self, new) {
            (Distribution::Float { log: a, .. }, Distribution::Float { log: b, .. })
            | (Distribution::Int { log: a, .. }, Distribution::Int { log: b, .. }) => {
                if a == b {
                    Ok(())
                } else {
                    Err(
                        "Cannot set different log configuration to the same parameter name."
                            .to_owned(),
                    )
                }
            }
            (
                Distribution::Categorical { choices: a },
                Distribution::Categorical { choices: b },
            ) => {
                if a.len() == b.len() && a.iter().zip(b).all(|(x, y)| value_eq(x, y)) {
                    Ok(())
                } else {
                    Err("CategoricalDistribution does not support dynamic value space.".to_owned())
                }
            }
            _ => {
                Err("Cannot set different distribution kind to the same parameter name.".to_owned())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_each_kind_through_optuna_json() {
        for d in [
            Distribution::float(-5.0, 10.0),
            Distribution::float_log(1e-4, 1.0),
            Distribution::float_step(0.0, 1.0, 0.25),
            Distribution::int(1, 12),
            Distribution::int_log(1, 1024),
            Distribution::int_step(0, 100, 5),
            Distribution::categorical([json!("a"), json!(null), json!(true), json!(2.5)]),
        ] {
            let text = d.to_optuna_json();
            assert_eq!(
                Distribution::from_optuna_json("p", &text).unwrap(),
                d,
                "{text}"
            );
        }
    }

    #[test]
    fn reads_what_optuna_writes_including_legacy_names() {
        let float = r#"{"name": "FloatDistribution", "attributes": {"step": null, "low": 0.001, "high": 1.0, "log": true}}"#;
        assert_eq!(
            Distribution::from_optuna_json("x", float).unwrap(),
            Distribution::float_log(0.001, 1.0)
        );
        let legacy = r#"{"name": "DiscreteUniformDistribution", "attributes": {"low": 0, "high": 1, "q": 0.5}}"#;
        assert_eq!(
            Distribution::from_optuna_json("x", legacy).unwrap(),
            Distribution::float_step(0.0, 1.0, 0.5)
        );
        let int_log = r#"{"name": "IntLogUniformDistribution", "attributes": {"low": 1, "high": 8, "step": 1}}"#;
        assert_eq!(
            Distribution::from_optuna_json("n", int_log).unwrap(),
            Distribution::int_log(1, 8)
        );
    }

    #[test]
    fn refuses_what_is_no_distribution() {
        for bad in [
            "not json",
            r#"{"name": "Weird", "attributes": {}}"#,
            r#"{"name": "FloatDistribution", "attributes": {"low": 2, "high": 1}}"#,
            r#"{"name": "CategoricalDistribution", "attributes": {}}"#,
        ] {
            assert!(Distribution::from_optuna_json("x", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn internal_values_map_back_exactly() {
        let f = Distribution::float_step(0.0, 1.0, 0.1);
        assert_eq!(
            f.external_of_internal(0.30000000000000004),
            Some(json!(0.30000000000000004))
        );
        assert_eq!(
            Distribution::int(0, 9).external_of_internal(3.0),
            Some(json!(3))
        );
        assert_eq!(Distribution::int(0, 9).external_of_internal(3.5), None);
        let c = Distribution::categorical([json!("a"), json!("b")]);
        assert_eq!(c.external_of_internal(1.0), Some(json!("b")));
        assert_eq!(c.external_of_internal(2.0), None);
        assert_eq!(c.to_internal(&json!("b")), Some(1.0));
    }

    #[test]
    fn compatibility_follows_optuna() {
        let f = Distribution::float(0.0, 1.0);
        assert!(f.check_compatible(&Distribution::float(-3.0, 3.0)).is_ok());
        assert!(
            f.check_compatible(&Distribution::float_log(0.1, 1.0))
                .is_err()
        );
        assert!(f.check_compatible(&Distribution::int(0, 1)).is_err());
        let c = Distribution::categorical([json!("a"), json!("b")]);
        assert!(c.check_compatible(&c.clone()).is_ok());
        let err = c
            .check_compatible(&Distribution::categorical([json!("a")]))
            .unwrap_err();
        assert!(err.contains("dynamic value space"), "{err}");
    }
}
