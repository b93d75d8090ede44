//! Self-contained HTML pages of figures: plotly.js is inlined, nothing is fetched, and a
//! Content-Security-Policy forbids any network access, so a page opens offline and a saved
//! copy keeps working.

use std::sync::LazyLock;

use serde_json::Value;

use crate::figure::Figure;
use crate::plotly::figure_json;

/// No network at all: no fetch, image, font, frame or form target outside the page. Inline
/// scripts and styles are the page itself. `'unsafe-eval'` is there for plotly.js's WebGL
/// traces: parallel coordinates (and `scattergl`) draw with regl, which compiles its drawing
/// code with `Function(...)`; without it plotly shows "WebGL is not supported" in their place
/// (checked in Chromium; SVG traces draw either way). Nothing from outside the page reaches a
/// script, so it opens no door a network would need.
pub const CSP: &str = "default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; \
style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'";

/// The `<script>` element holding plotly.js 3.0.1, as the `plotly` crate ships it.
/// `Plot::offline_js_sources()` returns plotly.js and then MathJax (2 MB), each in its own
/// element; MathJax only typesets LaTeX (`$...$`) in titles, which ETS never writes, so only
/// the first element is kept. Built once: the string is 4.6 MB.
static PLOTLY_JS: LazyLock<String> = LazyLock::new(|| {
    let sources = ::plotly::Plot::offline_js_sources();
    let end = sources
        .find("</script>")
        .expect("plotly::Plot::offline_js_sources() has a </script> element");
    sources[..end + "</script>".len()].trim_start().to_owned()
});

/// The plotly.js `<script>` element every page embeds.
pub fn plotly_js_element() -> &'static str {
    &PLOTLY_JS
}

/// A part of a report: a heading, paragraphs of plain text (escaped here) and figures.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ReportSection {
    pub heading: String,
    pub paragraphs: Vec<String>,
    pub figures: Vec<Figure>,
}

/// One page showing `figures` under the heading `title`. `intro_html` is trusted markup put as
/// it is between the heading and the figures (the caller escapes what it holds).
pub fn figure_page(title: &str, figures: &[Figure], intro_html: Option<&str>) -> String {
    let mut page = Page::new(title);
    if let Some(intro) = intro_html {
        page.body.push_str(intro);
        page.body.push('\n');
    }
    for fig in figures {
        page.figure(fig);
    }
    page.finish()
}

/// A report: `disclaimer` (if any) at the top and at the bottom, then each section's heading,
/// paragraphs and figures.
pub fn report_page(title: &str, sections: &[ReportSection], disclaimer: Option<&str>) -> String {
    let mut page = Page::new(title);
    if let Some(text) = disclaimer {
        page.disclaimer(text);
    }
    for section in sections {
        page.body.push_str("<section>\n<h2>");
        page.body.push_str(&escape(&section.heading));
        page.body.push_str("</h2>\n");
        for paragraph in &section.paragraphs {
            page.body.push_str("<p>");
            page.body.push_str(&escape(paragraph));
            page.body.push_str("</p>\n");
        }
        for fig in &section.figures {
            page.figure(fig);
        }
        page.body.push_str("</section>\n");
    }
    if let Some(text) = disclaimer {
        page.disclaimer(text);
    }
    page.finish()
}

const STYLE: &str = "body{font-family:-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;\
margin:24px;color:#222}h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em}\
p{max-width:60em;white-space:pre-wrap}.ets-figure{margin:16px 0;overflow-x:auto}\
.disclaimer{border:2px solid #b00020;background:#fdecea;color:#5f0010;padding:12px 16px;\
margin:16px 0;font-weight:600;white-space:pre-wrap}";

/// A page being written: the body markup and the figures to draw into it.
struct Page {
    title: String,
    body: String,
    figures: Vec<(String, Value)>,
}

impl Page {
    fn new(title: &str) -> Self {
        Page {
            title: escape(title),
            body: String::new(),
            figures: Vec::new(),
        }
    }

    fn figure(&mut self, fig: &Figure) {
        let id = format!("ets-figure-{}", self.figures.len());
        self.body.push_str(&format!(
            "<div class=\"ets-figure\" id=\"{id}\" role=\"img\" aria-label=\"{}\"></div>\n",
            escape(&fig.title)
        ));
        self.figures.push((id, figure_json(fig)));
    }

    fn disclaimer(&mut self, text: &str) {
        self.body
            .push_str("<div class=\"disclaimer\" role=\"note\">");
        self.body.push_str(&escape(text));
        self.body.push_str("</div>\n");
    }

    fn finish(self) -> String {
        let figures = Value::Array(
            self.figures
                .into_iter()
                .map(|(id, fig)| serde_json::json!([id, fig]))
                .collect(),
        );
        let mut out = String::with_capacity(PLOTLY_JS.len() + self.body.len() + 4096);
        out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
        out.push_str(&format!(
            "<meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\">\n"
        ));
        out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
        out.push_str(&format!("<title>{}</title>\n", self.title));
        out.push_str(&format!("<style>{STYLE}</style>\n</head>\n<body>\n"));
        out.push_str(&format!("<h1>{}</h1>\n", self.title));
        out.push_str(&self.body);
        out.push_str(&PLOTLY_JS);
        out.push_str("\n<script>\n");
        out.push_str(DRAW_PREFIX);
        out.push_str(&script_json(&figures));
        out.push_str(DRAW_SUFFIX);
        out.push_str("</script>\n</body>\n</html>\n");
        out
    }
}

/// Draws every `[div id, figure]` pair; a figure that fails is reported on the console and
/// the others are still drawn.
const DRAW_PREFIX: &str = "(function () {\n\"use strict\";\nvar figures = ";
const DRAW_SUFFIX: &str = ";
var config = {responsive: true, displaylogo: false};
figures.forEach(function (f) {
  try {
    Plotly.newPlot(document.getElementById(f[0]), f[1].data, f[1].layout, config)
      .catch(function (e) { console.error(\"figure \" + f[0] + \": \" + e); });
  } catch (e) {
    console.error(\"figure \" + f[0] + \": \" + e);
  }
});
})();
";

/// JSON safe inside a `<script>` element. `<`, `>` and `&` only occur inside JSON strings,
/// where `\\u003c` and friends mean the same character: so no `</script>`, `<!--` or `-->`
/// can end or bend the element. U+2028 and U+2029 are escaped for older JavaScript engines,
/// where they end a line even inside a string.
pub fn script_json(value: &Value) -> String {
    let text = value.to_string();
    let mut out = String::with_capacity(text.len() + 64);
    for c in text.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

/// Text as HTML content or attribute value (the SVG writer's XML escaping, which HTML reads the
/// same way).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    crate::svg::escaped(&mut out, text);
    out
}

#[cfg(test)]
mod tests;
