//! A text page in the figures' look: a report's title page (its sections' text) with the
//! disclaimer at the top and the bottom, for the PDF export.

use super::FONT_FAMILY;
use super::write::{TextStyle, text, text_width};
use crate::figure::{DEFAULT_HEIGHT, DEFAULT_WIDTH};
use crate::html::ReportSection;

const MARGIN: f64 = 40.0;
const LINE: f64 = 18.0;
const BODY: f64 = 12.0;

/// The title page of a report: the title, each section's heading and paragraphs (wrapped;
/// what does not fit is cut with a last line saying so), and the disclaimer, if any, on top
/// and at the bottom. Figures follow on their own pages.
pub fn text_page(title: &str, sections: &[ReportSection], disclaimer: Option<&str>) -> String {
    let (width, height) = (f64::from(DEFAULT_WIDTH), f64::from(DEFAULT_HEIGHT));
    let mut out = String::with_capacity(4096);
    out.push_str(&format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\" font-family=\"{FONT_FAMILY}\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n"
    ));
    let style = |size, bold, fill| TextStyle {
        size,
        anchor: "start",
        bold,
        fill,
    };
    let mut y = MARGIN;
    if let Some(disclaimer) = disclaimer {
        text(
            &mut out,
            MARGIN,
            y,
            &style(BODY, true, "#b00020"),
            disclaimer,
        );
        y += LINE * 1.5;
    }
    y += 8.0;
    text(&mut out, MARGIN, y, &style(22.0, true, "#222222"), title);
    y += LINE * 2.0;
    let bottom = height
        - MARGIN
        - if disclaimer.is_some() {
            LINE * 1.5
        } else {
            0.0
        };
    let room = width - 2.0 * MARGIN;
    'sections: for section in sections.iter().filter(|s| !s.paragraphs.is_empty()) {
        if y + LINE > bottom {
            break;
        }
        text(
            &mut out,
            MARGIN,
            y,
            &style(15.0, true, "#222222"),
            &section.heading,
        );
        y += LINE * 1.3;
        for paragraph in &section.paragraphs {
            for line in wrap(paragraph, room) {
                if y + LINE > bottom {
                    text(
                        &mut out,
                        MARGIN,
                        y,
                        &style(BODY, false, "#666666"),
                        "… (continued in the HTML and JSON exports)",
                    );
                    break 'sections;
                }
                text(&mut out, MARGIN, y, &style(BODY, false, "#333333"), &line);
                y += LINE;
            }
        }
        y += LINE * 0.5;
    }
    if let Some(disclaimer) = disclaimer {
        text(
            &mut out,
            MARGIN,
            height - MARGIN + 8.0,
            &style(BODY, true, "#b00020"),
            disclaimer,
        );
    }
    out.push_str("</svg>\n");
    out
}

/// Words of `text` in lines no wider than `room` px at the body size (a longer word gets a
/// line of its own).
fn wrap(text: &str, room: f64) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let candidate = if line.is_empty() {
            word.to_owned()
        } else {
            format!("{line} {word}")
        };
        if !line.is_empty() && text_width(&candidate, BODY, false) > room {
            lines.push(std::mem::replace(&mut line, word.to_owned()));
        } else {
            line = candidate;
        }
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_title_page_shows_the_text_and_the_disclaimer_twice() {
        let sections = [ReportSection {
            heading: "Experiment".into(),
            paragraphs: vec!["Name: sweep <1>".into(), "word ".repeat(400)],
            figures: Vec::new(),
        }];
        let svg = text_page("Report", &sections, Some("Disclaimer"));
        assert_eq!(svg.matches(">Disclaimer<").count(), 2);
        assert!(svg.contains("Name: sweep &lt;1&gt;"));
        crate::raster::parse(&svg).expect("valid SVG");
        assert!(wrap(&"word ".repeat(400), 800.0).len() > 10);
    }
}
