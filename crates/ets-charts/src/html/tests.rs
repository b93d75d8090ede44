use serde_json::Value;

use super::*;
use crate::figure::{Axis, LineTrace, Trace};

fn figure(title: &str) -> Figure {
    let mut fig = Figure::new(title, Axis::linear("step"), Axis::linear("loss"));
    fig.traces.push(Trace::Line(LineTrace::new(
        "run",
        vec![0.0, 1.0],
        vec![1.0, f64::NAN],
        "#636efa".into(),
    )));
    fig
}

/// The page without the plotly.js element, which it must hold exactly once.
fn without_plotly_js(page: &str) -> String {
    assert_eq!(page.matches(plotly_js_element()).count(), 1);
    page.replacen(plotly_js_element(), "", 1)
}

/// The figures the page draws, parsed back from its drawing script.
fn drawn_figures(page: &str) -> Vec<Value> {
    let start = page.find(DRAW_PREFIX).expect("drawing script") + DRAW_PREFIX.len();
    let end = start + page[start..].find(DRAW_SUFFIX).expect("end of the figures");
    let figures: Value = serde_json::from_str(&page[start..end]).expect("figures are JSON");
    figures.as_array().unwrap().clone()
}

#[test]
fn plotly_js_is_plotly_3_0_1_without_mathjax() {
    let js = plotly_js_element();
    assert!(js.starts_with("<script"), "{}", &js[..40]);
    assert!(js.ends_with("</script>"));
    assert_eq!(js.matches("</script>").count(), 1);
    assert!(js.contains("plotly.js v3.0.1"));
    // MathJax's loader is in its own element, which is dropped.
    assert!(!js.contains("MathJax.loader"));
    assert!(::plotly::Plot::offline_js_sources().contains("MathJax.loader"));
    assert!(js.len() > 4_000_000);
}

#[test]
fn figure_page_is_html5_with_a_div_and_a_plot_per_figure() {
    let figs = [figure("one"), figure("two")];
    let page = figure_page("Runs", &figs, Some("<p class=\"intro\">Intro</p>"));
    assert!(page.starts_with("<!DOCTYPE html>\n<html lang=\"en\">"));
    assert!(page.contains("<meta charset=\"utf-8\">"));
    assert!(page.contains(&format!(
        "<meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\">"
    )));
    assert!(page.contains("<title>Runs</title>"));
    assert!(page.contains("<p class=\"intro\">Intro</p>"));
    assert!(page.contains("id=\"ets-figure-0\"") && page.contains("id=\"ets-figure-1\""));
    assert!(!page.contains("id=\"ets-figure-2\""));
    assert!(page.contains("Plotly.newPlot("));
    assert!(page.contains("{responsive: true, displaylogo: false}"));
    assert!(page.trim_end().ends_with("</html>"));
    // plotly.js is defined before the script that uses it.
    assert!(page.find(plotly_js_element()).unwrap() < page.find(DRAW_PREFIX).unwrap());

    let drawn = drawn_figures(&page);
    assert_eq!(drawn.len(), 2);
    for (i, fig) in figs.iter().enumerate() {
        assert_eq!(drawn[i][0], format!("ets-figure-{i}"));
        assert_eq!(drawn[i][1], crate::plotly::figure_json(fig));
    }
}

#[test]
fn csp_forbids_the_network() {
    assert!(CSP.starts_with("default-src 'none';"));
    for directive in ["connect-src", "font-src", "frame-src", "http", "*"] {
        assert!(!CSP.contains(directive), "{directive} in the CSP");
    }
    assert!(CSP.contains("img-src data:;"));
}

#[test]
fn pages_fetch_nothing() {
    let mut section = ReportSection {
        heading: "h".into(),
        paragraphs: vec!["p".into()],
        figures: vec![figure("f")],
    };
    section.figures.push(figure("g"));
    for page in [
        figure_page("t", &[figure("f")], None),
        report_page("t", &[section], Some("disclaimer")),
    ] {
        let lower = page.to_ascii_lowercase();
        for tag in [
            "<script src",
            "<link",
            "<img",
            "<iframe",
            "<object",
            "<embed",
            "@import",
        ] {
            assert!(!lower.contains(tag), "{tag} in the page");
        }
        // URLs occur only inside plotly.js's own string constants (map tiles it never loads
        // without a map trace, documentation links).
        let rest = without_plotly_js(&page).to_ascii_lowercase();
        assert!(!rest.contains("http:") && !rest.contains("https:") && !rest.contains("//cdn"));
    }
}

#[test]
fn titles_are_escaped_and_figure_json_cannot_close_the_script() {
    let nasty = "</script><script>alert(1)</script> <!-- & \u{2028}\u{2029} -->";
    let page = figure_page(nasty, &[figure(nasty)], None);
    let rest = without_plotly_js(&page);
    // One closing tag: the drawing script's own.
    assert_eq!(rest.to_ascii_lowercase().matches("</script").count(), 1);
    assert!(!rest.contains("<!--") && !rest.contains("-->"));
    // Raw line separators are harmless in HTML text, not inside the script.
    let script = &rest[rest.find(DRAW_PREFIX).unwrap()..];
    assert!(!script.contains('\u{2028}') && !script.contains('\u{2029}'));
    assert!(script.contains("\\u2028\\u2029"));
    assert!(rest.contains(
        "<title>&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt; &lt;!-- &amp; \u{2028}\u{2029} --&gt;</title>"
    ));
    // The figure's title reaches plotly unchanged (as plotly-escaped text).
    let drawn = drawn_figures(&page);
    assert_eq!(
        drawn[0][1]["layout"]["title"]["text"],
        crate::plotly::label(nasty)
    );
}

#[test]
fn script_json_escapes_what_html_parsers_see() {
    let value = serde_json::json!({"a": "</SCRIPT> <!-- --> & \u{2028}"});
    let text = script_json(&value);
    assert_eq!(
        text,
        r#"{"a":"\u003c/SCRIPT\u003e \u003c!-- --\u003e \u0026 \u2028"}"#
    );
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), value);
}

#[test]
fn report_has_the_disclaimer_at_top_and_bottom_and_escaped_sections() {
    let sections = [
        ReportSection {
            heading: "Config <1>".into(),
            paragraphs: vec!["lr=0.1 & batch=<32>".into(), "seed=7".into()],
            figures: vec![figure("a")],
        },
        ReportSection {
            heading: "Objectives".into(),
            paragraphs: Vec::new(),
            figures: vec![figure("b"), figure("c")],
        },
    ];
    let disclaimer = "Not a medical device <research only>";
    let page = report_page("Export & report", &sections, Some(disclaimer));
    let rest = without_plotly_js(&page);
    let boxed =
        "<div class=\"disclaimer\" role=\"note\">Not a medical device &lt;research only&gt;</div>";
    assert_eq!(rest.matches(boxed).count(), 2);
    let (first, last) = (rest.find(boxed).unwrap(), rest.rfind(boxed).unwrap());
    assert!(first < rest.find("<section>").unwrap());
    assert!(last > rest.rfind("</section>").unwrap());
    assert!(rest.contains("<h1>Export &amp; report</h1>"));
    assert!(rest.contains("<h2>Config &lt;1&gt;</h2>"));
    assert!(rest.contains("<p>lr=0.1 &amp; batch=&lt;32&gt;</p>\n<p>seed=7</p>"));
    assert_eq!(rest.matches("<section>").count(), 2);
    // Figures are numbered across sections.
    let ids: Vec<Value> = drawn_figures(&page).iter().map(|f| f[0].clone()).collect();
    assert_eq!(ids, ["ets-figure-0", "ets-figure-1", "ets-figure-2"]);

    let plain = report_page("r", &sections, None);
    assert!(!plain.contains("class=\"disclaimer\""));
}

#[test]
fn escape_covers_text_and_attributes() {
    assert_eq!(
        escape(r#"a<b>&"c"'d'"#),
        "a&lt;b&gt;&amp;&quot;c&quot;&apos;d&apos;"
    );
}
