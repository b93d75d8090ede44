use super::*;

// ---- helpers ------------------------------------------------------------------------------------

fn parse(text: &str) -> Expr {
    match parse_filter(text) {
        Ok(Some(expr)) => expr,
        other => panic!("{text:?} should parse, got {other:?}"),
    }
}

fn err(text: &str) -> FilterError {
    match parse_filter(text) {
        Err(e) => e,
        Ok(expr) => panic!("{text:?} should not parse, got {expr:?}"),
    }
}

fn order(text: &str) -> OrderKey {
    parse_order_by(text).unwrap_or_else(|e| panic!("{text:?} should parse: {e}"))
}

fn order_err(text: &str) -> FilterError {
    match parse_order_by(text) {
        Err(e) => e,
        Ok(key) => panic!("{text:?} should not parse, got {key:?}"),
    }
}

fn cmp(entity: Entity, key: &str, op: Op, value: Value) -> Expr {
    Expr::Compare(Comparison::new(entity, key, op, value))
}

fn s(text: &str) -> Value {
    Value::Str(text.to_owned())
}

fn n(number: f64) -> Value {
    Value::Number(number)
}

fn list(items: &[&str]) -> Value {
    Value::List(items.iter().map(|i| s(i)).collect())
}

fn metric(key: &str, op: Op, value: f64) -> Expr {
    cmp(Entity::Metric, key, op, n(value))
}

fn param(key: &str, op: Op, value: &str) -> Expr {
    cmp(Entity::Param, key, op, s(value))
}

fn tag(key: &str, op: Op, value: &str) -> Expr {
    cmp(Entity::Tag, key, op, s(value))
}

fn attr(key: &str, op: Op, value: Value) -> Expr {
    cmp(Entity::Attribute, key, op, value)
}

/// Asserts position, token and message of an error.
fn assert_error(e: &FilterError, position: usize, token: &str, message: &str) {
    assert_eq!(
        (e.position, e.token.as_str(), e.message.as_str()),
        (position, token, message),
        "full error: {e}"
    );
}

fn run_err(text: &str) -> FilterError {
    validate_run_filter(&parse(text)).expect_err(text)
}

fn experiment_err(text: &str) -> FilterError {
    validate_experiment_filter(&parse(text)).expect_err(text)
}

// ---- empty input --------------------------------------------------------------------------------

#[test]
fn empty_or_blank_filter_is_no_filter() {
    for text in ["", " ", "   ", "\t\n", "\u{a0}"] {
        assert_eq!(parse_filter(text), Ok(None), "{text:?}");
    }
}

// ---- MLflow documentation examples --------------------------------------------------------------

#[test]
fn mlflow_example_metric_and_param() {
    assert_eq!(
        parse("metrics.rmse < 1 and params.model = 'tree'"),
        Expr::And(vec![
            metric("rmse", Op::Lt, 1.0),
            param("model", Op::Eq, "tree")
        ])
    );
}

#[test]
fn mlflow_example_quoted_tag_key() {
    assert_eq!(
        parse(r#"tags."mlflow.source.type" = 'LOCAL'"#),
        tag("mlflow.source.type", Op::Eq, "LOCAL")
    );
}

#[test]
fn mlflow_example_run_id_in_list() {
    assert_eq!(
        parse("attributes.run_id IN ('a','b')"),
        attr("run_id", Op::In, list(&["a", "b"]))
    );
}

#[test]
fn mlflow_example_dataset_digest() {
    assert_eq!(
        parse("datasets.digest = 'abc'"),
        cmp(Entity::Dataset, "digest", Op::Eq, s("abc"))
    );
}

#[test]
fn mlflow_example_accuracy() {
    assert_eq!(
        parse("metrics.accuracy > 0.92"),
        metric("accuracy", Op::Gt, 0.92)
    );
}

#[test]
fn mlflow_example_double_quoted_values() {
    assert_eq!(
        parse(
            r#"params.model = "LogisticRegression" and params.lambda = "0.001" and metrics.error <= 0.05"#
        ),
        Expr::And(vec![
            param("model", Op::Eq, "LogisticRegression"),
            param("lambda", Op::Eq, "0.001"),
            metric("error", Op::Le, 0.05),
        ])
    );
}

#[test]
fn mlflow_example_failed_runs() {
    assert_eq!(
        parse(r#"attributes.status = "FAILED""#),
        attr("status", Op::Eq, s("FAILED"))
    );
}

#[test]
fn mlflow_example_special_character_keys() {
    assert_eq!(
        parse(r#"params."model-type" = 'x'"#),
        param("model-type", Op::Eq, "x")
    );
    assert_eq!(
        parse("metrics.`error rate` < 0.1"),
        metric("error rate", Op::Lt, 0.1)
    );
    assert_eq!(
        parse(r#"metrics."2019-04-02 error rate" < 0.1"#),
        metric("2019-04-02 error rate", Op::Lt, 0.1)
    );
    assert_eq!(
        parse("tags.`mlflow.parentRunId` = 'abc'"),
        tag("mlflow.parentRunId", Op::Eq, "abc")
    );
}

#[test]
fn mlflow_example_experiment_searches() {
    assert_eq!(parse("name = 'x'"), attr("name", Op::Eq, s("x")));
    assert_eq!(
        parse("attributes.name LIKE 'x%'"),
        attr("name", Op::Like, s("x%"))
    );
    assert_eq!(parse("tags.group != 'x'"), tag("group", Op::Ne, "x"));
    assert_eq!(
        parse("tags.group ILIKE '%x%'"),
        tag("group", Op::ILike, "%x%")
    );
    assert_eq!(
        parse("attributes.name LIKE 'x%' AND tags.group = 'y'"),
        Expr::And(vec![
            attr("name", Op::Like, s("x%")),
            tag("group", Op::Eq, "y")
        ])
    );
}

#[test]
fn mlflow_example_run_name_attribute_and_tag() {
    assert_eq!(
        parse("attributes.run_name = 'my-run'"),
        attr("run_name", Op::Eq, s("my-run"))
    );
    // A dotted key may be written bare: everything after the first '.' is the key.
    assert_eq!(
        parse("tags.mlflow.runName = 'my-run'"),
        tag("mlflow.runName", Op::Eq, "my-run")
    );
}

// ---- identifiers --------------------------------------------------------------------------------

#[test]
fn every_entity_prefix_spelling() {
    let cases = [
        ("metrics", Entity::Metric),
        ("metric", Entity::Metric),
        ("params", Entity::Param),
        ("param", Entity::Param),
        ("parameter", Entity::Param),
        ("parameters", Entity::Param),
        ("tags", Entity::Tag),
        ("tag", Entity::Tag),
        ("attributes", Entity::Attribute),
        ("attribute", Entity::Attribute),
        ("attr", Entity::Attribute),
        ("run", Entity::Attribute),
        ("datasets", Entity::Dataset),
        ("dataset", Entity::Dataset),
    ];
    for (prefix, entity) in cases {
        assert_eq!(Entity::from_prefix(prefix), Some(entity), "{prefix}");
        let Expr::Compare(c) = parse(&format!("{prefix}.k = 'v'")) else {
            panic!("{prefix}: not a comparison");
        };
        assert_eq!((c.entity, c.key.as_str()), (entity, "k"), "{prefix}");
    }
}

#[test]
fn entity_prefixes_are_case_insensitive() {
    assert_eq!(parse("METRICS.acc > 1"), metric("acc", Op::Gt, 1.0));
    assert_eq!(parse("Params.lr = '1'"), param("lr", Op::Eq, "1"));
    assert_eq!(Entity::from_prefix("Tags"), Some(Entity::Tag));
    assert_eq!(Entity::from_prefix("metricz"), None);
}

#[test]
fn backtick_quoted_prefix() {
    assert_eq!(parse("`metrics`.acc > 1"), metric("acc", Op::Gt, 1.0));
}

#[test]
fn bare_identifier_is_an_attribute() {
    assert_eq!(
        parse("status = 'FINISHED'"),
        attr("status", Op::Eq, s("FINISHED"))
    );
    assert_eq!(parse("start_time > 0"), attr("start_time", Op::Gt, n(0.0)));
    assert_eq!(parse("`Run Name` = 'x'"), attr("Run Name", Op::Eq, s("x")));
    assert_eq!(
        parse(r#""run name" = 'x'"#),
        attr("run name", Op::Eq, s("x"))
    );
}

#[test]
fn bare_keys_allow_mlflow_characters_and_more() {
    assert_eq!(
        parse("metrics.val_acc_2 > 0"),
        metric("val_acc_2", Op::Gt, 0.0)
    );
    assert_eq!(parse("metrics.a$b#c > 0"), metric("a$b#c", Op::Gt, 0.0));
    assert_eq!(
        parse("metrics.train/loss < 1"),
        metric("train/loss", Op::Lt, 1.0)
    );
    assert_eq!(parse("metrics.val-acc > 0"), metric("val-acc", Op::Gt, 0.0));
    assert_eq!(parse("tags.a:b = 'x'"), tag("a:b", Op::Eq, "x"));
    assert_eq!(parse("metrics.2019 > 0"), metric("2019", Op::Gt, 0.0));
    assert_eq!(
        parse("metrics.précision > 0"),
        metric("précision", Op::Gt, 0.0)
    );
}

#[test]
fn quoted_keys_unescape() {
    assert_eq!(parse("metrics.`a``b` > 0"), metric("a`b", Op::Gt, 0.0));
    assert_eq!(
        parse(r#"tags."say ""hi""" = 'x'"#),
        tag(r#"say "hi""#, Op::Eq, "x")
    );
    assert_eq!(
        parse("params.'learning rate' = '0.1'"),
        param("learning rate", Op::Eq, "0.1")
    );
    // Backticks have no backslash escapes.
    assert_eq!(parse(r"tags.`a\b` = 'x'"), tag(r"a\b", Op::Eq, "x"));
}

#[test]
fn keys_are_not_keywords_after_a_prefix() {
    assert_eq!(parse("metrics.and > 1"), metric("and", Op::Gt, 1.0));
    assert_eq!(parse("tags.in = 'x'"), tag("in", Op::Eq, "x"));
}

// ---- operators ----------------------------------------------------------------------------------

#[test]
fn every_operator() {
    let cases = [
        ("=", Op::Eq),
        ("!=", Op::Ne),
        ("<", Op::Lt),
        (">", Op::Gt),
        ("<=", Op::Le),
        (">=", Op::Ge),
    ];
    for (text, op) in cases {
        assert_eq!(
            parse(&format!("metrics.m {text} 1")),
            metric("m", op, 1.0),
            "{text}"
        );
        assert_eq!(
            parse(&format!("metrics.m{text}1")),
            metric("m", op, 1.0),
            "{text}"
        );
    }
    for (text, op) in [
        ("LIKE", Op::Like),
        ("like", Op::Like),
        ("Like", Op::Like),
        ("ILIKE", Op::ILike),
        ("ilike", Op::ILike),
        ("iLike", Op::ILike),
    ] {
        assert_eq!(
            parse(&format!("tags.t {text} 'a%'")),
            tag("t", op, "a%"),
            "{text}"
        );
    }
    for (text, op) in [
        ("IN", Op::In),
        ("in", Op::In),
        ("NOT IN", Op::NotIn),
        ("not in", Op::NotIn),
        ("Not  In", Op::NotIn),
        ("NOT\tIN", Op::NotIn),
    ] {
        assert_eq!(
            parse(&format!("attributes.run_id {text} ('a')")),
            attr("run_id", op, list(&["a"])),
            "{text}"
        );
    }
}

#[test]
fn keywords_need_no_surrounding_spaces_next_to_punctuation() {
    assert_eq!(
        parse("params.b='x'AND(metrics.a>1)"),
        Expr::And(vec![param("b", Op::Eq, "x"), metric("a", Op::Gt, 1.0)])
    );
    assert_eq!(parse("tags.t LIKE'a%'"), tag("t", Op::Like, "a%"));
    assert_eq!(
        parse("attributes.run_id IN('a')or(tags.t='b')"),
        Expr::Or(vec![
            attr("run_id", Op::In, list(&["a"])),
            tag("t", Op::Eq, "b")
        ])
    );
}

// ---- values -------------------------------------------------------------------------------------

#[test]
fn numbers() {
    let cases = [
        ("1", 1.0),
        ("0", 0.0),
        ("-1", -1.0),
        ("+2", 2.0),
        ("1.5", 1.5),
        (".5", 0.5),
        ("-.5", -0.5),
        ("5.", 5.0),
        ("1e3", 1000.0),
        ("1E-3", 0.001),
        ("-2.5e+10", -2.5e10),
        ("1700000000000", 1_700_000_000_000.0),
    ];
    for (text, value) in cases {
        assert_eq!(
            parse(&format!("metrics.m > {text}")),
            metric("m", Op::Gt, value),
            "{text}"
        );
    }
}

#[test]
fn strings_and_escapes() {
    let cases = [
        ("'tree'", "tree"),
        ("\"tree\"", "tree"),
        ("''", ""),
        ("'it''s'", "it's"),
        (r"'it\'s'", "it's"),
        ("\"it's\"", "it's"),
        (r#""say ""hi""""#, r#"say "hi""#),
        (r#""say \"hi\"""#, r#"say "hi""#),
        (r"'back\\slash'", r"back\slash"),
        (r"'C:\data'", r"C:\data"),
        ("'50%'", "50%"),
        ("'café ☕'", "café ☕"),
        ("'a AND b'", "a AND b"),
        ("'('", "("),
    ];
    for (text, value) in cases {
        assert_eq!(
            parse(&format!("params.p = {text}")),
            param("p", Op::Eq, value),
            "{text}"
        );
    }
}

#[test]
fn lists() {
    assert_eq!(
        parse("attributes.run_id IN ('a')"),
        attr("run_id", Op::In, list(&["a"]))
    );
    assert_eq!(
        parse("attributes.run_id IN ('a',)"),
        attr("run_id", Op::In, list(&["a"]))
    );
    assert_eq!(
        parse(r#"attributes.run_id NOT IN ( 'a' , "b" , 'c' )"#),
        attr("run_id", Op::NotIn, list(&["a", "b", "c"]))
    );
    assert_eq!(
        parse("datasets.name IN ('x', 2)"),
        cmp(
            Entity::Dataset,
            "name",
            Op::In,
            Value::List(vec![s("x"), n(2.0)])
        )
    );
}

// ---- AND / OR / parentheses ---------------------------------------------------------------------

fn a() -> Expr {
    metric("a", Op::Gt, 1.0)
}
fn b() -> Expr {
    metric("b", Op::Gt, 2.0)
}
fn c() -> Expr {
    metric("c", Op::Gt, 3.0)
}
fn d() -> Expr {
    metric("d", Op::Gt, 4.0)
}
const A: &str = "metrics.a > 1";
const B: &str = "metrics.b > 2";
const C: &str = "metrics.c > 3";
const D: &str = "metrics.d > 4";

#[test]
fn and_binds_tighter_than_or() {
    assert_eq!(
        parse(&format!("{A} OR {B} AND {C}")),
        Expr::Or(vec![a(), Expr::And(vec![b(), c()])])
    );
    assert_eq!(
        parse(&format!("{A} AND {B} OR {C}")),
        Expr::Or(vec![Expr::And(vec![a(), b()]), c()])
    );
    assert_eq!(
        parse(&format!("{A} and {B} or {C} and {D}")),
        Expr::Or(vec![Expr::And(vec![a(), b()]), Expr::And(vec![c(), d()])])
    );
}

#[test]
fn parentheses_override_precedence() {
    assert_eq!(
        parse(&format!("({A} OR {B}) AND {C}")),
        Expr::And(vec![Expr::Or(vec![a(), b()]), c()])
    );
    assert_eq!(
        parse(&format!("{A} AND ({B} OR {C}) AND {D}")),
        Expr::And(vec![a(), Expr::Or(vec![b(), c()]), d()])
    );
}

#[test]
fn same_kind_nodes_are_flattened() {
    assert_eq!(
        parse(&format!("{A} AND ({B} AND {C})")),
        Expr::And(vec![a(), b(), c()])
    );
    assert_eq!(
        parse(&format!("(({A} AND {B})) AND {C}")),
        Expr::And(vec![a(), b(), c()])
    );
    assert_eq!(
        parse(&format!("({A} OR {B}) OR ({C} OR {D})")),
        Expr::Or(vec![a(), b(), c(), d()])
    );
    assert_eq!(
        parse(&format!("{A} OR {B} OR {C}")),
        Expr::Or(vec![a(), b(), c()])
    );
}

#[test]
fn single_child_is_unwrapped() {
    assert_eq!(parse(&format!("(({A}))")), a());
    assert_eq!(parse(&format!("  ( {A} )  ")), a());
}

#[test]
fn deep_nesting_within_the_limit_parses() {
    let text = format!("{}{A}{}", "(".repeat(64), ")".repeat(64));
    assert_eq!(parse(&text), a());
}

#[test]
fn expr_constructors_flatten() {
    assert_eq!(Expr::and(vec![]), None);
    assert_eq!(Expr::or(vec![a()]), Some(a()));
    assert_eq!(
        Expr::and(vec![Expr::And(vec![a(), b()]), c()]),
        Some(Expr::And(vec![a(), b(), c()]))
    );
    assert_eq!(
        Expr::or(vec![Expr::And(vec![a(), b()]), c()]),
        Some(Expr::Or(vec![Expr::And(vec![a(), b()]), c()]))
    );
}

#[test]
fn comparisons_are_listed_in_written_order() {
    let expr = parse(&format!("{A} AND ({B} OR {C}) AND {D}"));
    let keys: Vec<&str> = expr.comparisons().iter().map(|c| c.key.as_str()).collect();
    assert_eq!(keys, ["a", "b", "c", "d"]);
}

// ---- origins ------------------------------------------------------------------------------------

#[test]
fn comparisons_remember_where_their_parts_were_written() {
    let Expr::Compare(cmp) = parse("metrics.acc >= 0.5") else {
        panic!("not a comparison")
    };
    assert_eq!(
        cmp.origin,
        Origin {
            identifier: Written {
                position: 0,
                text: "metrics.acc".into()
            },
            op: Written {
                position: 12,
                text: ">=".into()
            },
            value: Written {
                position: 15,
                text: "0.5".into()
            },
        }
    );
    let expr = parse("tags.é = 'ü' AND attributes.run_id not  in ('a', 'b')");
    let second = expr.comparisons()[1].clone();
    assert_eq!(second.origin.identifier.position, 17);
    assert_eq!(second.origin.op.text, "not  in");
    assert_eq!(second.origin.op.position, 35);
    assert_eq!(second.origin.value.text, "('a', 'b')");
    assert_eq!(second.origin.value.position, 43);
}

#[test]
fn equality_ignores_origin() {
    assert_eq!(parse("  metrics.a>1"), parse("metrics.a > 1"));
    assert_eq!(
        order("  metrics.a"),
        OrderKey::new(Entity::Metric, "a", true)
    );
}

// ---- syntax errors ------------------------------------------------------------------------------

#[test]
fn error_bad_operator() {
    let e = err("metrics.acc >> 1");
    assert_error(
        &e,
        12,
        ">>",
        "expected a comparison operator (=, !=, <, >, <=, >=, LIKE, ILIKE, IN, NOT IN) but found '>>'",
    );
    assert_eq!(
        e.to_string(),
        "expected a comparison operator (=, !=, <, >, <=, >=, LIKE, ILIKE, IN, NOT IN) but found \
         '>>' (at character 12: '>>')"
    );
    assert_error(
        &err("metrics.acc == 1"),
        12,
        "==",
        "expected a comparison operator (=, !=, <, >, <=, >=, LIKE, ILIKE, IN, NOT IN) but found '=='",
    );
    assert_error(
        &err("tags.t CONTAINS 'x'"),
        7,
        "CONTAINS",
        "expected a comparison operator (=, !=, <, >, <=, >=, LIKE, ILIKE, IN, NOT IN) but found 'CONTAINS'",
    );
}

#[test]
fn error_angle_brackets_not_equal_is_not_mlflow() {
    assert_error(
        &err("metrics.acc <> 1"),
        12,
        "<>",
        "expected a comparison operator (=, !=, <, >, <=, >=, LIKE, ILIKE, IN, NOT IN); write \
         '!=' for not-equal but found '<>'",
    );
}

#[test]
fn error_missing_operator_or_value() {
    assert_error(
        &err("metrics.a 1"),
        10,
        "1",
        "expected a comparison operator (=, !=, <, >, <=, >=, LIKE, ILIKE, IN, NOT IN) but found '1'",
    );
    assert_error(
        &err("metrics.a"),
        9,
        "",
        "expected a comparison operator (=, !=, <, >, <=, >=, LIKE, ILIKE, IN, NOT IN) but reached \
         the end of the input",
    );
    assert_error(
        &err("metrics.a >"),
        11,
        "",
        "expected a value (a quoted string such as 'x' or \"x\", or a number such as 0.5) but \
         reached the end of the input",
    );
}

#[test]
fn error_not_without_in() {
    assert_error(
        &err("tags.a NOT 'x'"),
        11,
        "'x'",
        "expected IN after NOT (NOT IN) but found ''x''",
    );
    assert_error(
        &err("tags.a NOT LIKE 'x'"),
        11,
        "LIKE",
        "expected IN after NOT (NOT IN) but found 'LIKE'",
    );
}

#[test]
fn error_unterminated_quotes() {
    assert_error(
        &err("params.x = 'abc"),
        11,
        "'abc",
        "unterminated string: expected a closing ' before the end of the input",
    );
    assert_error(
        &err(r"params.x = 'abc\'"),
        11,
        r"'abc\'",
        "unterminated string: expected a closing ' before the end of the input",
    );
    assert_error(
        &err(r#"params.x = "abc"#),
        11,
        "\"abc",
        "unterminated string: expected a closing \" before the end of the input",
    );
    assert_error(
        &err("metrics.`val acc > 1"),
        8,
        "`val acc > 1",
        "unterminated quoted name: expected a closing ` before the end of the input",
    );
    assert_error(
        &err(r#"tags."x = 'y'"#),
        5,
        r#""x = 'y'"#,
        "unterminated string: expected a closing \" before the end of the input",
    );
}

#[test]
fn error_long_tokens_are_shortened() {
    let e = err(&format!("params.x = '{}", "y".repeat(100)));
    assert_eq!(e.position, 11);
    assert_eq!(e.token, format!("'{}…", "y".repeat(39)));
}

#[test]
fn error_unbalanced_parentheses() {
    assert_error(
        &err("(metrics.a > 1 AND params.b = 'x'"),
        0,
        "(",
        "unbalanced parentheses: this '(' is never closed (expected ')' before the end of the \
         filter)",
    );
    assert_error(
        &err("metrics.a > 1 AND (params.b = 'x' OR (tags.c = 'y')"),
        18,
        "(",
        "unbalanced parentheses: this '(' is never closed (expected ')' before the end of the \
         filter)",
    );
    assert_error(
        &err("metrics.a > 1)"),
        13,
        ")",
        "unbalanced parentheses: this ')' has no matching '(' (expected AND, OR or the end of \
         the filter)",
    );
    assert_error(
        &err("(metrics.a > 1))"),
        15,
        ")",
        "unbalanced parentheses: this ')' has no matching '(' (expected AND, OR or the end of \
         the filter)",
    );
    assert_error(
        &err("()"),
        1,
        ")",
        "expected a comparison (e.g. metrics.acc > 0.9) or '(' but found ')'",
    );
}

#[test]
fn error_trailing_tokens() {
    assert_error(
        &err("metrics.a > 1 params.b = 'x'"),
        14,
        "params.b",
        "expected AND, OR or the end of the filter but found 'params.b'",
    );
    assert_error(
        &err("(metrics.a > 1 params.b = 'x')"),
        15,
        "params.b",
        "expected AND, OR or ')' but found 'params.b'",
    );
    assert_error(
        &err("metrics.a > 1;"),
        13,
        ";",
        "expected AND, OR or the end of the filter but found ';'",
    );
    assert_error(
        &err("params.a = 'x' 'y'"),
        15,
        "'y'",
        "expected AND, OR or the end of the filter but found ''y''",
    );
}

#[test]
fn error_dangling_or_doubled_keywords() {
    assert_error(
        &err("metrics.a > 1 AND"),
        17,
        "",
        "expected a comparison (e.g. metrics.acc > 0.9) or '(' but reached the end of the input",
    );
    assert_error(
        &err("AND metrics.a > 1"),
        0,
        "AND",
        "expected a comparison (e.g. metrics.acc > 0.9) or '(' but found 'AND'",
    );
    assert_error(
        &err("metrics.a > 1 AND AND params.b = 'x'"),
        18,
        "AND",
        "expected a comparison (e.g. metrics.acc > 0.9) or '(' but found 'AND'",
    );
    assert_error(
        &err("metrics.a > 1 OR"),
        16,
        "",
        "expected a comparison (e.g. metrics.acc > 0.9) or '(' but reached the end of the input",
    );
    assert_error(
        &err("like = 'x'"),
        0,
        "like",
        "expected a comparison (e.g. metrics.acc > 0.9) or '(' but found 'like'",
    );
    assert_error(
        &err("'x' = 'y'"),
        0,
        "'x'",
        "expected a comparison (e.g. metrics.acc > 0.9) or '(' but found ''x''",
    );
    assert_error(
        &err("NOT metrics.a > 1"),
        0,
        "NOT",
        "expected a comparison (e.g. metrics.acc > 0.9) or '(' but found 'NOT'",
    );
}

#[test]
fn error_in_lists() {
    assert_error(
        &err("attributes.run_id IN ()"),
        21,
        "()",
        "empty list: IN needs at least one value (e.g. ('a'))",
    );
    assert_error(
        &err("attributes.run_id NOT IN ( )"),
        25,
        "( )",
        "empty list: NOT IN needs at least one value (e.g. ('a'))",
    );
    assert_error(
        &err("attributes.run_id IN 'a'"),
        21,
        "'a'",
        "expected a parenthesised list after IN (e.g. IN ('a', 'b')) but found ''a''",
    );
    assert_error(
        &err("attributes.run_id IN ('a' 'b')"),
        26,
        "'b'",
        "expected ',' or ')' in the list but found ''b''",
    );
    assert_error(
        &err("attributes.run_id IN ('a', 'b'"),
        21,
        "(",
        "unbalanced parentheses: this list's '(' is never closed (expected ')' before the end of \
         the filter)",
    );
    assert_error(
        &err("attributes.run_id IN (('a'))"),
        22,
        "(",
        "expected a list element (a quoted string or a number; lists cannot be nested) but found \
         '('",
    );
    assert_error(
        &err("attributes.run_id IN ('a',,)"),
        26,
        ",",
        "expected a value (a quoted string such as 'x' or \"x\", or a number such as 0.5) but \
         found ','",
    );
    assert_error(
        &err("params.a = ('x')"),
        11,
        "(",
        "expected a value after = (a quoted string or a number; lists need IN or NOT IN) but found \
         '('",
    );
}

#[test]
fn error_identifiers() {
    assert_error(
        &err("metricz.acc > 1"),
        0,
        "metricz",
        "unknown entity type 'metricz': expected metrics, params, tags, attributes or datasets \
         (or metric, param, parameter, parameters, tag, attribute, attr, run, dataset) before the \
         '.'",
    );
    assert_error(
        &err("metrics.>1"),
        8,
        ">",
        "expected a key after 'metrics.' (quote keys containing spaces or other special \
         characters: metrics.`my key`) but found '>'",
    );
    assert_error(
        &err("metrics.`` > 1"),
        8,
        "``",
        "empty key: expected a key name inside the quotes",
    );
    assert_error(
        &err("`` > 1"),
        0,
        "``",
        "empty attribute name: expected a name inside the quotes",
    );
    assert_error(
        &err("metrics.a b > 1"),
        10,
        "b",
        "expected a comparison operator (=, !=, <, >, <=, >=, LIKE, ILIKE, IN, NOT IN) but found 'b'",
    );
}

#[test]
fn error_values() {
    assert_error(
        &err("params.model = tree"),
        15,
        "tree",
        "expected a value (a quoted string such as 'x' or \"x\", or a number such as 0.5) but \
         found 'tree'",
    );
    assert_error(
        &err("params.model = `tree`"),
        15,
        "`tree`",
        "expected a value (a quoted string such as 'x' or \"x\", or a number such as 0.5) but \
         found '`tree`'",
    );
    let malformed = |token: &str| {
        format!(
            "malformed number '{token}': expected digits with an optional sign, fraction and \
             exponent (e.g. -1.5e3)"
        )
    };
    for token in [
        "1.2.3", "1abc", "1e", "1e+", "-", "+", ".", "-.", "1_000", "0x10",
    ] {
        assert_error(
            &err(&format!("metrics.a > {token}")),
            12,
            token,
            &malformed(token),
        );
    }
    assert_error(
        &err("metrics.a > 1and metrics.b > 1"),
        12,
        "1and",
        &malformed("1and"),
    );
    assert_error(
        &err("metrics.a > 1e999"),
        12,
        "1e999",
        "number '1e999' is out of range",
    );
}

#[test]
fn error_nesting_too_deep() {
    let text = format!("{}metrics.a > 1{}", "(".repeat(100), ")".repeat(100));
    assert_error(
        &err(&text),
        64,
        "(",
        "parentheses nested too deeply (at most 64 levels)",
    );
}

/// `count` comparisons `metrics.m<i> > <i>` joined by `AND`.
fn and_chain(count: usize) -> String {
    (0..count)
        .map(|i| format!("metrics.m{i} > {i}"))
        .collect::<Vec<_>>()
        .join(" AND ")
}

/// `count` comparisons nested [`MAX_FILTER_DEPTH`] parentheses deep, alternating `OR` and
/// `AND` at each level: `a OR (b AND (c OR (…)))`, the rest of the comparisons `AND`-ed in the
/// innermost level.
fn nested(count: usize) -> String {
    let mut text = String::new();
    for level in 0..MAX_FILTER_DEPTH {
        let joiner = if level % 2 == 0 { "OR" } else { "AND" };
        text.push_str(&format!("params.p{level} = '{level}' {joiner} ("));
    }
    text.push_str(&and_chain(count - MAX_FILTER_DEPTH));
    text.push_str(&")".repeat(MAX_FILTER_DEPTH));
    text
}

#[test]
fn the_largest_filter_parses_and_one_more_comparison_is_refused() {
    let largest = parse(&and_chain(MAX_FILTER_COMPARISONS));
    assert_eq!(largest.comparisons().len(), MAX_FILTER_COMPARISONS);

    let too_many = and_chain(MAX_FILTER_COMPARISONS + 1);
    let position = too_many.find("metrics.m200 ").unwrap();
    assert_error(
        &err(&too_many),
        position,
        "metrics.m200",
        "filter too large: at most 200 comparisons are accepted",
    );
}

#[test]
fn the_comparison_limit_holds_with_or_and_parentheses() {
    let largest = parse(&nested(MAX_FILTER_COMPARISONS));
    assert_eq!(largest.comparisons().len(), MAX_FILTER_COMPARISONS);
    let e = err(&nested(MAX_FILTER_COMPARISONS + 1));
    assert_eq!(
        e.message,
        "filter too large: at most 200 comparisons are accepted"
    );
}

#[test]
fn list_values_are_bounded_across_the_filter() {
    let list = |n: usize| (0..n).map(|i| i.to_string()).collect::<Vec<_>>().join(",");
    let half = MAX_FILTER_LIST_VALUES / 2;
    let largest = format!(
        "params.a IN ({}) AND params.b NOT IN ({})",
        list(half),
        list(MAX_FILTER_LIST_VALUES - half)
    );
    assert_eq!(parse(&largest).comparisons().len(), 2);
    let too_many = format!(
        "params.a IN ({}) AND params.b NOT IN ({})",
        list(half),
        list(MAX_FILTER_LIST_VALUES - half + 1)
    );
    assert_eq!(
        err(&too_many).message,
        "filter too large: at most 10000 values in IN / NOT IN lists are accepted (all lists \
         together)"
    );
}

#[test]
fn filter_text_is_bounded_in_characters() {
    let prefix = "params.p = '";
    // Multi-byte characters: the limit counts characters, not bytes.
    let fill = MAX_FILTER_CHARS - prefix.chars().count() - 1;
    let largest = format!("{prefix}{}'", "é".repeat(fill));
    assert_eq!(largest.chars().count(), MAX_FILTER_CHARS);
    assert_eq!(parse(&largest).comparisons().len(), 1);
    let too_long = format!("{prefix}{}'", "é".repeat(fill + 1));
    let e = err(&too_long);
    assert_eq!(
        e.message,
        "filter too long: 100001 characters, at most 100000 are accepted"
    );
}

#[test]
fn error_positions_count_characters_not_bytes() {
    assert_error(
        &err("tags.é = 'ü' AND metrics.a >> 1"),
        27,
        ">>",
        "expected a comparison operator (=, !=, <, >, <=, >=, LIKE, ILIKE, IN, NOT IN) but found '>>'",
    );
}

// ---- order_by -----------------------------------------------------------------------------------

#[test]
fn order_by_keys() {
    assert_eq!(
        order("metrics.acc DESC"),
        OrderKey::new(Entity::Metric, "acc", false)
    );
    assert_eq!(
        order("metrics.acc desc"),
        OrderKey::new(Entity::Metric, "acc", false)
    );
    assert_eq!(
        order("attributes.start_time"),
        OrderKey::new(Entity::Attribute, "start_time", true)
    );
    assert_eq!(
        order("params.`learning rate` asc"),
        OrderKey::new(Entity::Param, "learning rate", true)
    );
    assert_eq!(
        order(r#"params."learning rate" DESC"#),
        OrderKey::new(Entity::Param, "learning rate", false)
    );
    assert_eq!(
        order("name"),
        OrderKey::new(Entity::Attribute, "name", true)
    );
    assert_eq!(
        order("  name   ASC  "),
        OrderKey::new(Entity::Attribute, "name", true)
    );
    assert_eq!(
        order("tags.mlflow.runName DESC"),
        OrderKey::new(Entity::Tag, "mlflow.runName", false)
    );
    assert_eq!(
        order("`Run Name`"),
        OrderKey::new(Entity::Attribute, "Run Name", true)
    );
}

#[test]
fn order_by_remembers_the_identifier() {
    let key = order("  metrics.`val acc` desc");
    assert_eq!(
        key.origin,
        Written {
            position: 2,
            text: "metrics.`val acc`".into()
        }
    );
}

#[test]
fn order_by_errors() {
    assert_error(
        &order_err(""),
        0,
        "",
        "expected an order_by key (e.g. metrics.acc DESC) but reached the end of the input",
    );
    assert_error(
        &order_err("   "),
        3,
        "",
        "expected an order_by key (e.g. metrics.acc DESC) but reached the end of the input",
    );
    assert_error(
        &order_err("metrics.acc DOWN"),
        12,
        "DOWN",
        "expected ASC, DESC or the end of the order_by entry but found 'DOWN'",
    );
    assert_error(
        &order_err("metrics.acc DESC DESC"),
        17,
        "DESC",
        "expected ASC, DESC or the end of the order_by entry but found 'DESC'",
    );
    assert_error(
        &order_err("metrics.acc DESC, params.b"),
        16,
        ",",
        "expected ASC, DESC or the end of the order_by entry (pass each order_by key as its own \
         entry) but found ','",
    );
    assert_error(
        &order_err("foo.bar"),
        0,
        "foo",
        "unknown entity type 'foo': expected metrics, params, tags, attributes or datasets (or \
         metric, param, parameter, parameters, tag, attribute, attr, run, dataset) before the '.'",
    );
    assert_error(
        &order_err("metrics.`acc DESC"),
        8,
        "`acc DESC",
        "unterminated quoted name: expected a closing ` before the end of the input",
    );
}

// ---- run filter validation ----------------------------------------------------------------------

#[test]
fn valid_run_filters() {
    for text in [
        "metrics.rmse < 1 and params.model = 'tree'",
        r#"tags."mlflow.source.type" = 'LOCAL'"#,
        "attributes.run_id IN ('a','b')",
        "attributes.run_id NOT IN ('a')",
        "datasets.digest = 'abc'",
        "datasets.name IN ('a', 'b')",
        "datasets.context != 'training'",
        "datasets.name LIKE 'mnist%'",
        "attributes.status = 'FAILED' OR status = 'KILLED'",
        "attributes.start_time > 1700000000000 AND end_time <= 1800000000000",
        "created > 0",
        "Created > 0",
        "`Run Name` = 'x' AND `run name` LIKE 'x%' AND `Run name` ILIKE 'X%'",
        "run_name = 'x' AND attributes.artifact_uri LIKE 's3://%' AND user_id != 'bob'",
        "run.status = 'RUNNING' AND attr.run_id = 'a' AND attribute.user_id = 'u'",
        "params.lr != '0.1' AND tags.t ILIKE '%x%' AND metrics.m != -1",
        "metrics.a = 1 AND metrics.b >= 2 AND metrics.c <= 3",
    ] {
        assert_eq!(validate_run_filter(&parse(text)), Ok(()), "{text}");
    }
}

#[test]
fn run_filter_metric_rules() {
    assert_error(
        &run_err("metrics.acc LIKE '0.9%'"),
        12,
        "LIKE",
        "metrics.acc is numeric: expected one of =, !=, <, <=, >, >= but found LIKE",
    );
    assert_error(
        &run_err("metrics.acc > '0.9'"),
        14,
        "'0.9'",
        "metrics.acc is numeric: expected a number but found the string '0.9'",
    );
    assert_error(
        &run_err("metrics.acc IN (1, 2)"),
        12,
        "IN",
        "metrics.acc is numeric: expected one of =, !=, <, <=, >, >= but found IN",
    );
}

#[test]
fn run_filter_param_and_tag_rules() {
    assert_error(
        &run_err("params.lr = 0.1"),
        12,
        "0.1",
        "params.lr is a string: expected a quoted string (e.g. '0.1') but found the number 0.1",
    );
    assert_error(
        &run_err("params.lr < '1'"),
        10,
        "<",
        "params.lr is a string: expected one of =, !=, LIKE, ILIKE but found <",
    );
    assert_error(
        &run_err("params.lr IN ('a')"),
        10,
        "IN",
        "params.lr is a string: expected one of =, !=, LIKE, ILIKE but found IN",
    );
    assert_error(
        &run_err("tags.t NOT IN ('a')"),
        7,
        "NOT IN",
        "tags.t is a string: expected one of =, !=, LIKE, ILIKE but found NOT IN",
    );
}

#[test]
fn run_filter_attribute_rules() {
    let expected = "expected one of artifact_uri, end_time, run_id, run_name, start_time, status, \
                    user_id, created, Created, run name, Run name, Run Name";
    assert_error(
        &run_err("attributes.foo = 'x'"),
        0,
        "attributes.foo",
        &format!("unknown run attribute 'foo': {expected}"),
    );
    // Attribute names are case-sensitive, as in MLflow.
    assert_error(
        &run_err("Status = 'x'"),
        0,
        "Status",
        &format!("unknown run attribute 'Status': {expected}"),
    );
    assert_error(
        &run_err("attributes.lifecycle_stage = 'active'"),
        0,
        "attributes.lifecycle_stage",
        &format!(
            "unknown run attribute 'lifecycle_stage': {expected} (runs are selected by lifecycle \
             with run_view_type, not the filter)"
        ),
    );
    assert_error(
        &run_err("attributes.start_time > '2024'"),
        24,
        "'2024'",
        "attributes.start_time is numeric: expected a number but found the string '2024'",
    );
    assert_error(
        &run_err("attributes.end_time LIKE '1%'"),
        20,
        "LIKE",
        "attributes.end_time is numeric: expected one of =, !=, <, <=, >, >= but found LIKE",
    );
    assert_error(
        &run_err("attributes.status IN ('FINISHED')"),
        18,
        "IN",
        "attributes.status is a string: expected one of =, !=, LIKE, ILIKE but found IN (only \
         attributes.run_id takes a list)",
    );
    assert_error(
        &run_err("attributes.status > 'A'"),
        18,
        ">",
        "attributes.status is a string: expected one of =, !=, LIKE, ILIKE but found >",
    );
    assert_error(
        &run_err("attributes.run_id IN ('a', 1)"),
        21,
        "('a', 1)",
        "attributes.run_id is a string: expected a quoted string (e.g. '1') but found the number 1",
    );
    assert_error(
        &run_err("run_name = 5"),
        11,
        "5",
        "attributes.run_name is a string: expected a quoted string (e.g. '5') but found the number 5",
    );
}

#[test]
fn run_filter_dataset_rules() {
    assert_error(
        &run_err("datasets.size = '1'"),
        0,
        "datasets.size",
        "unknown dataset field 'size': expected one of name, digest, context",
    );
    assert_error(
        &run_err("datasets.name = 1"),
        16,
        "1",
        "datasets.name is a string: expected a quoted string (e.g. '1') but found the number 1",
    );
    assert_error(
        &run_err("datasets.digest >= 'a'"),
        16,
        ">=",
        "datasets.digest is a string: expected one of =, !=, LIKE, ILIKE, IN, NOT IN but found >=",
    );
}

#[test]
fn run_filter_reports_the_first_error_in_written_order() {
    let e = run_err("metrics.a > 1 AND (params.b = 2 OR metrics.c LIKE 'x')");
    assert_eq!((e.position, e.token.as_str()), (30, "2"));
    let e = run_err("(metrics.a > 1 OR tags.t = 'x') AND metrics.c LIKE 'x'");
    assert_eq!((e.position, e.token.as_str()), (46, "LIKE"));
}

#[test]
fn run_filter_rejects_mismatched_values_built_in_code() {
    let eq_list = Expr::Compare(Comparison::new(
        Entity::Attribute,
        "run_id",
        Op::Eq,
        list(&["a"]),
    ));
    assert!(validate_run_filter(&eq_list).is_err());
    let in_scalar = Expr::Compare(Comparison::new(Entity::Attribute, "run_id", Op::In, s("a")));
    assert!(validate_run_filter(&in_scalar).is_err());
    let empty = Expr::Compare(Comparison::new(
        Entity::Dataset,
        "name",
        Op::In,
        Value::List(vec![]),
    ));
    assert!(validate_run_filter(&empty).is_err());
}

// ---- experiment filter validation ---------------------------------------------------------------

#[test]
fn valid_experiment_filters() {
    for text in [
        "name LIKE 'x%'",
        "name = 'x'",
        "attributes.name = 'x'",
        "attribute.name != 'x'",
        "name ILIKE '%X%' AND tags.group = 'y'",
        "tags.group != 'x' OR tags.t LIKE 'a%'",
        "creation_time > 0 AND last_update_time <= 1700000000000",
    ] {
        assert_eq!(validate_experiment_filter(&parse(text)), Ok(()), "{text}");
    }
}

#[test]
fn experiment_filter_rules() {
    let attrs = "expected an attribute (name, creation_time, last_update_time) or tags.<key>";
    assert_error(
        &experiment_err("metrics.a > 1"),
        0,
        "metrics.a",
        &format!("experiments have no metrics: {attrs}"),
    );
    assert_error(
        &experiment_err("name = 'x' AND params.a = 'x'"),
        15,
        "params.a",
        &format!("experiments have no params: {attrs}"),
    );
    assert_error(
        &experiment_err("datasets.name = 'x'"),
        0,
        "datasets.name",
        &format!("experiments have no datasets: {attrs}"),
    );
    let unknown = |key: &str| {
        format!(
            "unknown experiment attribute '{key}': expected one of name, creation_time, \
             last_update_time, or tags.<key>"
        )
    };
    assert_error(
        &experiment_err("attributes.status = 'x'"),
        0,
        "attributes.status",
        &unknown("status"),
    );
    assert_error(
        &experiment_err("experiment_id = '1'"),
        0,
        "experiment_id",
        &unknown("experiment_id"),
    );
    assert_error(
        &experiment_err("name IN ('a')"),
        5,
        "IN",
        "attributes.name is a string: expected one of =, !=, LIKE, ILIKE but found IN (only \
         attributes.run_id takes a list)",
    );
    assert_error(
        &experiment_err("creation_time = 'x'"),
        16,
        "'x'",
        "attributes.creation_time is numeric: expected a number but found the string 'x'",
    );
    assert_error(
        &experiment_err("tags.t > 'a'"),
        7,
        ">",
        "tags.t is a string: expected one of =, !=, LIKE, ILIKE but found >",
    );
}

// ---- order key validation -----------------------------------------------------------------------

#[test]
fn run_order_keys() {
    for text in [
        "metrics.acc DESC",
        "params.lr",
        "tags.t",
        "attributes.start_time DESC",
        "created",
        "Created DESC",
        "run_name",
        "status",
        "attributes.run_id",
        "artifact_uri",
        "user_id",
        "end_time",
    ] {
        assert_eq!(validate_run_order_key(&order(text)), Ok(()), "{text}");
    }
    let expected = "expected one of artifact_uri, end_time, run_id, run_name, start_time, status, \
                    user_id, created, Created, or a metric, param or tag";
    assert_error(
        &validate_run_order_key(&order("  attributes.foo DESC")).unwrap_err(),
        2,
        "attributes.foo",
        &format!("cannot order runs by attribute 'foo': {expected}"),
    );
    // MLflow lets `Run Name` filter but not order.
    assert_error(
        &validate_run_order_key(&order("`Run Name`")).unwrap_err(),
        0,
        "`Run Name`",
        &format!("cannot order runs by attribute 'Run Name': {expected}"),
    );
    assert_error(
        &validate_run_order_key(&order("datasets.name")).unwrap_err(),
        0,
        "datasets.name",
        "runs cannot be ordered by a dataset field: expected a metric, param, tag or attribute",
    );
}

#[test]
fn experiment_order_keys() {
    for text in [
        "name",
        "attributes.name DESC",
        "experiment_id",
        "creation_time DESC",
        "last_update_time",
    ] {
        assert_eq!(
            validate_experiment_order_key(&order(text)),
            Ok(()),
            "{text}"
        );
    }
    let expected = "expected one of name, creation_time, last_update_time, experiment_id";
    for (text, shown) in [
        ("tags.t", "tags.t"),
        ("metrics.m DESC", "metrics.m"),
        ("start_time", "attributes.start_time"),
    ] {
        let identifier = text.split(' ').next().unwrap_or_default();
        assert_error(
            &validate_experiment_order_key(&order(text)).unwrap_err(),
            0,
            identifier,
            &format!("cannot order experiments by '{shown}': {expected}"),
        );
    }
}

// ---- normalisation ------------------------------------------------------------------------------

#[test]
fn attribute_aliases_resolve_in_one_place() {
    assert_eq!(run_attribute("created").map(|a| a.name), Some("start_time"));
    assert_eq!(run_attribute("Run Name").map(|a| a.name), Some("run_name"));
    assert_eq!(
        run_attribute("status").map(|a| a.kind),
        Some(AttributeKind::String)
    );
    assert_eq!(
        run_attribute("end_time").map(|a| a.kind),
        Some(AttributeKind::Number)
    );
    assert_eq!(run_attribute("STATUS"), None);
    assert_eq!(
        experiment_attribute("creation_time").map(|a| a.kind),
        Some(AttributeKind::Number)
    );
    assert_eq!(experiment_attribute("start_time"), None);
}

#[test]
fn normalizing_run_filters_rewrites_aliases() {
    let mut expr = parse("created > 5 AND (`Run Name` = 'x' OR attributes.status = 'FAILED')");
    normalize_run_filter(&mut expr);
    assert_eq!(
        expr,
        Expr::And(vec![
            attr("start_time", Op::Gt, n(5.0)),
            Expr::Or(vec![
                attr("run_name", Op::Eq, s("x")),
                attr("status", Op::Eq, s("FAILED"))
            ])
        ])
    );
    // Tags and unknown attributes are left alone.
    let mut expr = parse("tags.created = 'x' AND attributes.bogus = 'y'");
    let before = expr.clone();
    normalize_run_filter(&mut expr);
    assert_eq!(expr, before);

    let mut key = order("Created DESC");
    normalize_run_order_key(&mut key);
    assert_eq!(key, OrderKey::new(Entity::Attribute, "start_time", false));
}

// ---- display ------------------------------------------------------------------------------------

#[test]
fn display_is_canonical() {
    assert_eq!(
        parse(r#"metric.acc>=0.5 and (param.lr='0.1' or tags."a b" like 'x%')"#).to_string(),
        "metrics.acc >= 0.5 AND (params.lr = '0.1' OR tags.`a b` LIKE 'x%')"
    );
    assert_eq!(parse("name = \"x\"").to_string(), "attributes.name = 'x'");
    assert_eq!(
        parse("attributes.run_id not in ('a',\"b\",)").to_string(),
        "attributes.run_id NOT IN ('a', 'b')"
    );
    assert_eq!(
        parse(&format!("{A} and {B} or {C}")).to_string(),
        "metrics.a > 1.0 AND metrics.b > 2.0 OR metrics.c > 3.0"
    );
    assert_eq!(
        parse("tags.mlflow.runName ilike 'X%'").to_string(),
        "tags.mlflow.runName ILIKE 'X%'"
    );
    assert_eq!(
        parse("metrics.`a``b` != -0.5").to_string(),
        "metrics.`a``b` != -0.5"
    );
}

#[test]
fn display_escapes_strings_and_formats_numbers() {
    assert_eq!(s(r"it's a \ test").to_string(), r"'it''s a \\ test'");
    assert_eq!(n(1.0).to_string(), "1.0");
    assert_eq!(n(1e300).to_string(), "1e300");
    assert_eq!(n(-0.25).to_string(), "-0.25");
    assert_eq!(n(1e-7).to_string(), "1e-7");
    assert_eq!(
        OrderKey::new(Entity::Metric, "val acc", false).to_string(),
        "metrics.`val acc` DESC"
    );
    assert_eq!(
        OrderKey::new(Entity::Attribute, "start_time", true).to_string(),
        "attributes.start_time ASC"
    );
}

#[test]
fn display_round_trips() {
    for text in [
        "metrics.rmse < 1 and params.model = 'tree'",
        r#"tags."mlflow.source.type" = 'LOCAL' OR datasets.digest = 'abc'"#,
        r#"params.p = 'it''s' AND params.q = "a\\b" AND params.r = 'C:\data'"#,
        "(metrics.a > 1 OR metrics.b > 2) AND (metrics.c > 3 OR metrics.d > 4)",
        "metrics.a > 1 OR metrics.b > 2 AND metrics.c > 3",
        "attributes.run_id IN ('a', 'b') AND `Run Name` != 'x'",
        "metrics.```a` > 1e300 AND metrics.x < -1e-300",
        "tags.`with space` = '' OR tags.`'` = '\"'",
    ] {
        let expr = parse(text);
        assert_eq!(parse(&expr.to_string()), expr, "{text} → {expr}");
    }
    for text in ["metrics.acc", "params.`learning rate` desc", "name DESC"] {
        let key = order(text);
        assert_eq!(order(&key.to_string()), key, "{text} → {key}");
    }
}
