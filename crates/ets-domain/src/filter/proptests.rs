//! Properties: no input makes the parser panic, and canonical text parses back to the same tree.

use proptest::collection::vec;
use proptest::prelude::*;

use super::*;

/// Whatever `text` is, parsing it (and validating and re-printing what parses) must not panic,
/// and what parses must print as text that parses back to the same tree.
fn check_filter_text(text: &str) -> Result<(), TestCaseError> {
    if let Ok(Some(expr)) = parse_filter(text) {
        let _ = validate_run_filter(&expr);
        let _ = validate_experiment_filter(&expr);
        let printed = expr.to_string();
        prop_assert_eq!(
            parse_filter(&printed),
            Ok(Some(expr)),
            "printed as {}",
            printed
        );
    }
    Ok(())
}

fn check_order_text(text: &str) -> Result<(), TestCaseError> {
    if let Ok(key) = parse_order_by(text) {
        let _ = validate_run_order_key(&key);
        let _ = validate_experiment_order_key(&key);
        let printed = key.to_string();
        prop_assert_eq!(parse_order_by(&printed), Ok(key), "printed as {}", printed);
    }
    Ok(())
}

/// Pieces of filters, well- and ill-formed, to glue into token soups.
const TOKENS: &[&str] = &[
    "metrics.acc",
    "metric.`val acc`",
    "params.lr",
    "param.\"a b\"",
    "tags.mlflow.runName",
    "tags.'q'",
    "attributes.run_id",
    "run.status",
    "datasets.digest",
    "name",
    "`Run Name`",
    "created",
    "foo.bar",
    "metrics.",
    "AND",
    "and",
    "OR",
    "or",
    "NOT",
    "not",
    "IN",
    "in",
    "LIKE",
    "ilike",
    "ASC",
    "desc",
    "(",
    ")",
    "((",
    "))",
    ",",
    ".",
    "=",
    "!=",
    "<>",
    "<",
    ">",
    "<=",
    ">=",
    ">>",
    "==",
    "'x'",
    "'it''s'",
    "\"dq\"",
    "'%a_'",
    "''",
    "'",
    "\"",
    "`",
    "\\",
    "'unterminated",
    "1",
    "-2.5e3",
    ".5",
    "1e999",
    "1.2.3",
    "+",
    "-",
    "é",
    "\u{0}",
    ";",
];

fn token_soup() -> impl Strategy<Value = String> {
    let piece = (
        proptest::sample::select(TOKENS),
        prop_oneof![Just(""), Just(" "), Just("  "), Just("\t")],
    );
    vec(piece, 0..16).prop_map(|pieces| {
        pieces
            .into_iter()
            .map(|(token, sep)| format!("{token}{sep}"))
            .collect()
    })
}

/// Plausible filters: comparisons with random parts, joined by AND/OR, sometimes parenthesised.
fn near_miss_filter() -> impl Strategy<Value = String> {
    let ident = prop_oneof![
        Just("metrics.acc"),
        Just("params.`a b`"),
        Just("tags.t"),
        Just("name"),
        Just("attributes.run_id")
    ];
    let op = prop_oneof![
        Just("="),
        Just("!="),
        Just(">="),
        Just("LIKE"),
        Just("not in"),
        Just("IN")
    ];
    let value = prop_oneof![
        Just("'x'"),
        Just("1.5"),
        Just("('a', 'b')"),
        Just("()"),
        Just("'a")
    ];
    let comparison = (ident, op, value).prop_map(|(i, o, v)| format!("{i} {o} {v}"));
    vec(
        (
            comparison,
            prop_oneof![Just(" AND "), Just(" or "), Just(" AND ("), Just(") OR ")],
        ),
        1..6,
    )
    .prop_map(|parts| {
        let mut text: String = parts.iter().map(|(c, j)| format!("{c}{j}")).collect();
        // Drop the trailing joiner half the time, to exercise dangling keywords too.
        if parts.len() % 2 == 0 {
            let cut = parts.last().map_or(0, |(_, j)| j.len());
            text.truncate(text.len() - cut);
        }
        text
    })
}

fn entity() -> impl Strategy<Value = Entity> {
    prop_oneof![
        Just(Entity::Metric),
        Just(Entity::Param),
        Just(Entity::Tag),
        Just(Entity::Attribute),
        Just(Entity::Dataset),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        Just(Op::Eq),
        Just(Op::Ne),
        Just(Op::Lt),
        Just(Op::Gt),
        Just(Op::Le),
        Just(Op::Ge),
        Just(Op::Like),
        Just(Op::ILike),
        Just(Op::In),
        Just(Op::NotIn),
    ]
}

/// Keys: plain names, names with characters that need quoting, and arbitrary text.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z_][a-z0-9_./:-]{0,10}",
        "[a-zA-Z0-9 _./:$#`'\"\\\\()=<>-]{1,10}",
        "\\PC{1,8}",
        any::<String>().prop_filter("keys are non-empty", |k| !k.is_empty()),
    ]
}

fn string_value() -> impl Strategy<Value = String> {
    prop_oneof!["[a-z%_]{0,6}", "[ 'a\"\\\\`%()]{0,8}", any::<String>(),]
}

fn number() -> impl Strategy<Value = f64> {
    prop_oneof![
        (-1_000_000i64..1_000_000).prop_map(|n| n as f64),
        any::<f64>().prop_filter("parsed numbers are finite", |n| n.is_finite()),
    ]
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        string_value().prop_map(Value::Str),
        number().prop_map(Value::Number),
    ]
}

fn comparison() -> impl Strategy<Value = Comparison> {
    (entity(), key(), op()).prop_flat_map(|(entity, key, op)| {
        let value = if op.takes_list() {
            vec(scalar(), 1..4).prop_map(Value::List).boxed()
        } else {
            scalar().boxed()
        };
        value.prop_map(move |value| Comparison::new(entity, key.clone(), op, value))
    })
}

/// Any tree, including non-canonical ones (an `And` directly inside an `And`).
fn expr() -> impl Strategy<Value = Expr> {
    comparison()
        .prop_map(Expr::Compare)
        .prop_recursive(4, 48, 4, |inner| {
            prop_oneof![
                vec(inner.clone(), 2..5).prop_map(Expr::And),
                vec(inner, 2..5).prop_map(Expr::Or),
            ]
        })
}

/// The tree the parser builds for the same meaning: same-kind nesting flattened.
fn canonical(expr: Expr) -> Expr {
    match expr {
        Expr::And(children) => Expr::and(children.into_iter().map(canonical).collect())
            .unwrap_or(Expr::And(Vec::new())),
        Expr::Or(children) => {
            Expr::or(children.into_iter().map(canonical).collect()).unwrap_or(Expr::Or(Vec::new()))
        }
        compare => compare,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        check_filter_text(&text)?;
        check_order_text(&text)?;
    }

    #[test]
    fn arbitrary_printable_text_never_panics(text in "\\PC{0,40}") {
        check_filter_text(&text)?;
        check_order_text(&text)?;
    }

    #[test]
    fn token_soups_never_panic(text in token_soup()) {
        check_filter_text(&text)?;
        check_order_text(&text)?;
    }

    #[test]
    fn near_miss_filters_never_panic(text in near_miss_filter()) {
        check_filter_text(&text)?;
    }

    #[test]
    fn errors_point_inside_the_input(text in token_soup()) {
        if let Err(e) = parse_filter(&text) {
            prop_assert!(e.position <= text.chars().count(), "{:?} for {:?}", e, text);
            prop_assert!(!e.message.is_empty());
        }
    }

    #[test]
    fn printed_trees_parse_back(expr in expr()) {
        let printed = expr.to_string();
        prop_assert_eq!(
            parse_filter(&printed),
            Ok(Some(canonical(expr))),
            "printed as {}",
            printed
        );
    }

    #[test]
    fn printed_order_keys_parse_back(entity in entity(), key in key(), ascending in any::<bool>()) {
        let order_key = OrderKey::new(entity, key, ascending);
        let printed = order_key.to_string();
        prop_assert_eq!(parse_order_by(&printed), Ok(order_key), "printed as {}", printed);
    }
}
