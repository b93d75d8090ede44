//! Metric values: any `f64`, including NaN and ±infinity.
//!
//! JSON has no literal for NaN or infinity, so, like protobuf's JSON mapping that MLflow
//! uses, non-finite values travel as the strings `"NaN"`, `"Infinity"` and `"-Infinity"`.
//! Input also accepts `"nan"`, `"inf"`, `"+inf"`, `"-inf"` in any case and numeric strings.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Parses a textual metric value.
pub fn parse_metric_value(text: &str) -> Option<f64> {
    let trimmed = text.trim();
    match trimmed.to_ascii_lowercase().as_str() {
        "nan" => Some(f64::NAN),
        "inf" | "+inf" | "infinity" | "+infinity" => Some(f64::INFINITY),
        "-inf" | "-infinity" => Some(f64::NEG_INFINITY),
        _ => trimmed.parse::<f64>().ok(),
    }
}

/// The JSON text for a non-finite value, or `None` when the value is an ordinary number.
pub fn non_finite_name(value: f64) -> Option<&'static str> {
    if value.is_nan() {
        Some("NaN")
    } else if value == f64::INFINITY {
        Some("Infinity")
    } else if value == f64::NEG_INFINITY {
        Some("-Infinity")
    } else {
        None
    }
}

/// A metric value in JSON arrays (numbers or the non-finite names).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MetricValue(#[serde(with = "metric_f64")] pub f64);

/// `#[serde(with = "ets_domain::value::metric_f64")]` for `f64` fields that may be non-finite.
pub mod metric_f64 {
    use super::*;

    pub fn serialize<S: Serializer>(value: &f64, serializer: S) -> Result<S::Ok, S::Error> {
        match non_finite_name(*value) {
            Some(name) => serializer.serialize_str(name),
            None => serializer.serialize_f64(*value),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
        deserializer.deserialize_any(MetricValueVisitor)
    }
}

/// Accepts a JSON number or a non-finite name without buffering: this runs once per metric
/// point on the ingest path.
struct MetricValueVisitor;

impl serde::de::Visitor<'_> for MetricValueVisitor {
    type Value = f64;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a number, or one of \"NaN\", \"Infinity\", \"-Infinity\"")
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<f64, E> {
        Ok(v)
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<f64, E> {
        Ok(v as f64)
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<f64, E> {
        Ok(v as f64)
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<f64, E> {
        parse_metric_value(text).ok_or_else(|| {
            E::custom(format!(
                "'{text}' is not a number (use a JSON number, or \"NaN\", \"Infinity\", \"-Infinity\")"
            ))
        })
    }
}

/// Same as [`metric_f64`] for `Option<f64>`.
pub mod metric_f64_opt {
    use super::*;

    pub fn serialize<S: Serializer>(value: &Option<f64>, serializer: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(v) => metric_f64::serialize(v, serializer),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<f64>, D::Error> {
        #[derive(Deserialize)]
        struct Wrapper(#[serde(with = "metric_f64")] f64);
        Ok(Option::<Wrapper>::deserialize(deserializer)?.map(|w| w.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Serialize, serde::Deserialize, Debug)]
    struct Point {
        #[serde(with = "metric_f64")]
        value: f64,
    }

    #[test]
    fn parses_non_finite_spellings() {
        assert!(parse_metric_value("NaN").unwrap().is_nan());
        assert_eq!(parse_metric_value("inf"), Some(f64::INFINITY));
        assert_eq!(parse_metric_value("-Infinity"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_metric_value(" 1.5 "), Some(1.5));
        assert_eq!(parse_metric_value("one"), None);
    }

    #[test]
    fn json_round_trip_of_non_finite_values() {
        for (value, json) in [
            (f64::INFINITY, r#"{"value":"Infinity"}"#),
            (f64::NEG_INFINITY, r#"{"value":"-Infinity"}"#),
            (0.25, r#"{"value":0.25}"#),
        ] {
            assert_eq!(serde_json::to_string(&Point { value }).unwrap(), json);
            assert_eq!(serde_json::from_str::<Point>(json).unwrap().value, value);
        }
        let nan = serde_json::to_string(&Point { value: f64::NAN }).unwrap();
        assert_eq!(nan, r#"{"value":"NaN"}"#);
        assert!(serde_json::from_str::<Point>(&nan).unwrap().value.is_nan());
        let err = serde_json::from_str::<Point>(r#"{"value":"high"}"#).unwrap_err();
        assert!(err.to_string().contains("'high' is not a number"), "{err}");
        assert!(serde_json::from_str::<Point>(r#"{"value":true}"#).is_err());
    }
}
