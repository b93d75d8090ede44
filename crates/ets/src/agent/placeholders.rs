//! A trial's parameters in its command: `{name}` placeholders in the arguments, and the
//! `ETS_PARAM_<NAME>` environment variables.
//!
//! In an argument, `{name}` is replaced by the value of the parameter `name` (letters, digits
//! and `_ - . / :`); `{{` and `}}` are a literal brace; `${…}` is left to the shell, and any
//! other brace (such as awk's `{print $1}`) is kept as it is.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
enum Piece<'a> {
    Text(&'a str),
    Param(&'a str),
}

fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '/' | ':')
}

/// Splits an argument into literal text and placeholders.
fn pieces(arg: &str) -> Vec<Piece<'_>> {
    let mut pieces = Vec::new();
    let mut text_start = 0;
    let mut i = 0;
    let bytes = arg.as_bytes();
    while i < bytes.len() {
        match bytes[i] {
            b'{' | b'}' if bytes.get(i + 1) == Some(&bytes[i]) => {
                // `{{` or `}}`: one literal brace.
                pieces.push(Piece::Text(&arg[text_start..=i]));
                i += 2;
                text_start = i;
            }
            b'$' if bytes.get(i + 1) == Some(&b'{') => i += 2,
            b'{' => {
                let rest = &arg[i + 1..];
                match rest.find('}') {
                    Some(end) if end > 0 && rest[..end].chars().all(is_name_char) => {
                        pieces.push(Piece::Text(&arg[text_start..i]));
                        pieces.push(Piece::Param(&rest[..end]));
                        i += end + 2;
                        text_start = i;
                    }
                    _ => i += 1,
                }
            }
            _ => i += 1,
        }
    }
    pieces.push(Piece::Text(&arg[text_start..]));
    pieces.retain(|p| *p != Piece::Text(""));
    pieces
}

/// Checks that every placeholder of `args` names a parameter of the search space; the error
/// names the first unknown one, the argument and the known names.
pub fn check(args: &[String], known: &BTreeSet<String>) -> Result<(), String> {
    for (index, arg) in args.iter().enumerate() {
        for piece in pieces(arg) {
            if let Piece::Param(name) = piece
                && !known.contains(name)
            {
                let names: Vec<String> = known.iter().map(|n| format!("{{{n}}}")).collect();
                return Err(format!(
                    "unknown placeholder {{{name}}} in argument {} ('{arg}'): the study's \
                     parameters are {} (write {{{{ and }}}} for a literal brace)",
                    index + 1,
                    if names.is_empty() {
                        "none".to_owned()
                    } else {
                        names.join(", ")
                    },
                ));
            }
        }
    }
    Ok(())
}

/// `args` with each placeholder replaced by its value in `params`; an error names a
/// placeholder whose parameter this trial does not have (a conditional parameter).
pub fn substitute(
    args: &[String],
    params: &BTreeMap<String, Value>,
) -> Result<Vec<String>, String> {
    args.iter()
        .map(|arg| {
            let mut out = String::with_capacity(arg.len());
            for piece in pieces(arg) {
                match piece {
                    Piece::Text(text) => out.push_str(text),
                    Piece::Param(name) => match params.get(name) {
                        Some(value) => out.push_str(&param_text(value)),
                        None => {
                            return Err(format!(
                                "placeholder {{{name}}}: this trial has no parameter '{name}' \
                                 (its condition is not met); read ETS_PARAMS instead"
                            ));
                        }
                    },
                }
            }
            Ok(out)
        })
        .collect()
}

/// A parameter's value as a command line or environment variable shows it: a string as it
/// is, a number or boolean as in JSON (`0.001`, `0.00001`, `3`, `true`).
pub fn param_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// `ETS_PARAM_` and the name uppercased, every character but ASCII letters and digits as `_`:
/// `learning-rate` → `ETS_PARAM_LEARNING_RATE`.
pub fn env_name(param: &str) -> String {
    let name: String = param
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("ETS_PARAM_{name}")
}

/// Pairs of parameters whose variables would have the same name (`lr` and `LR`).
pub fn env_name_clashes<'a>(names: impl IntoIterator<Item = &'a String>) -> Vec<(String, String)> {
    let mut seen: BTreeMap<String, &String> = BTreeMap::new();
    let mut clashes = Vec::new();
    for name in names {
        if let Some(first) = seen.insert(env_name(name), name) {
            clashes.push((first.clone(), name.clone()));
        }
    }
    clashes
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    fn params() -> BTreeMap<String, Value> {
        BTreeMap::from([
            ("x".to_owned(), json!(1.5)),
            ("lr".to_owned(), json!(1e-5)),
            ("layers".to_owned(), json!(3)),
            ("opt".to_owned(), json!("adam")),
            ("model.depth".to_owned(), json!(12)),
            ("bn".to_owned(), json!(true)),
        ])
    }

    #[test]
    fn placeholders_take_the_values() {
        let out = substitute(
            &args(&[
                "train.py",
                "--x={x}",
                "--lr",
                "{lr}",
                "{opt}-{layers}x{model.depth}",
                "{bn}",
            ]),
            &params(),
        )
        .unwrap();
        assert_eq!(
            out,
            [
                "train.py",
                "--x=1.5",
                "--lr",
                "0.00001",
                "adam-3x12",
                "true"
            ]
        );
    }

    #[test]
    fn other_braces_stay_as_they_are() {
        let out = substitute(
            &args(&[
                "{{x}}",
                "awk '{print $1}'",
                "BEGIN{print (x-2)^2}",
                "echo ${x} ${HOME}",
                "{",
                "}",
                "{}",
                "a}}b{{c",
                "{x",
            ]),
            &params(),
        )
        .unwrap();
        assert_eq!(
            out,
            [
                "{x}",
                "awk '{print $1}'",
                "BEGIN{print (x-2)^2}",
                "echo ${x} ${HOME}",
                "{",
                "}",
                "{}",
                "a}b{c",
                "{x"
            ]
        );
    }

    #[test]
    fn unknown_placeholders_are_named_before_anything_runs() {
        let known: BTreeSet<String> = params().into_keys().collect();
        check(&args(&["run", "{x}", "--opt={opt}", "{{y}}"]), &known).unwrap();
        let err = check(&args(&["run", "--y={y}"]), &known).unwrap_err();
        assert!(err.contains("{y}"), "{err}");
        assert!(err.contains("argument 2"), "{err}");
        assert!(err.contains("{lr}") && err.contains("{x}"), "{err}");
        // awk's `{print}` looks like a placeholder: the error says how to write it.
        let err = check(&args(&["awk", "{print}"]), &known).unwrap_err();
        assert!(err.contains("{print}") && err.contains("{{"), "{err}");
    }

    #[test]
    fn a_missing_conditional_parameter_is_an_error() {
        let err = substitute(&args(&["--momentum={momentum}"]), &params()).unwrap_err();
        assert!(err.contains("momentum"), "{err}");
    }

    #[test]
    fn environment_names() {
        assert_eq!(env_name("x"), "ETS_PARAM_X");
        assert_eq!(env_name("learning-rate"), "ETS_PARAM_LEARNING_RATE");
        assert_eq!(env_name("model.depth/2"), "ETS_PARAM_MODEL_DEPTH_2");
        assert_eq!(env_name("é"), "ETS_PARAM__");
        let names = ["lr".to_owned(), "LR".to_owned(), "x".to_owned()];
        assert_eq!(
            env_name_clashes(&names),
            [("lr".to_owned(), "LR".to_owned())]
        );
    }

    #[test]
    fn values_as_text() {
        assert_eq!(param_text(&json!("sgd")), "sgd");
        assert_eq!(param_text(&json!(0.001)), "0.001");
        assert_eq!(param_text(&json!(4)), "4");
        assert_eq!(param_text(&json!(false)), "false");
        assert_eq!(param_text(&Value::Null), "");
    }
}
