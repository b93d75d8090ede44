//! Writing SVG text quickly: numbers with two decimals straight into the output buffer (no
//! per-number allocation), XML escaping, and text widths from the embedded font's metrics.

use std::borrow::Cow;

/// Pairs of decimal digits "00".."99", to write two digits per division.
const DIGIT_PAIRS: &[u8; 200] = b"\
0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// Appends `v` rounded to two decimals, without trailing zeros (`12`, `12.5`, `-0.25`).
/// Non-finite values never reach the SVG; they are written as `0` as a last resort.
///
/// This is the hot loop of long series (two numbers a point): the digits are formed in a
/// stack buffer and appended at once.
#[inline]
pub fn num(out: &mut String, v: f64) {
    let scaled = v * 100.0;
    if !scaled.is_finite() || scaled.abs() >= 1e15 {
        // Non-finite, or far beyond any drawable coordinate: keep the SVG valid.
        out.push_str(&if v.is_finite() {
            format!("{v:.0}")
        } else {
            "0".to_owned()
        });
        return;
    }
    // Round half away from zero by truncation (`f64::round` is a libm call on baseline x86-64).
    let mut n = (scaled.abs() + 0.5) as u64;
    let negative = scaled < 0.0 && n != 0;
    let mut buf = [0u8; 24];
    let mut pos = buf.len();
    let frac = (n % 100) as usize;
    n /= 100;
    if frac != 0 {
        let pair = &DIGIT_PAIRS[frac * 2..frac * 2 + 2];
        if pair[1] != b'0' {
            pos -= 1;
            buf[pos] = pair[1];
        }
        pos -= 2;
        buf[pos] = b'.';
        buf[pos + 1] = pair[0];
    }
    while n >= 100 {
        let pair = (n % 100) as usize * 2;
        n /= 100;
        pos -= 2;
        buf[pos..pos + 2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
    }
    if n >= 10 {
        pos -= 2;
        buf[pos..pos + 2].copy_from_slice(&DIGIT_PAIRS[n as usize * 2..n as usize * 2 + 2]);
    } else {
        pos -= 1;
        buf[pos] = b'0' + n as u8;
    }
    if negative {
        pos -= 1;
        buf[pos] = b'-';
    }
    // Byte by byte: each push is inlined, where a short `push_str` is a `memcpy` call.
    for &b in &buf[pos..] {
        out.push(char::from(b));
    }
}

/// Path data of a long polyline in relative coordinates: `m x y dx dy dx dy … m dx dy …`.
/// Points are rounded to hundredths of a pixel first and the differences taken in integers,
/// so the positions are exact to 0.01 px however long the line, while most numbers shrink to
/// a few characters (`.35`): less to write, and less for a renderer to parse.
#[derive(Debug, Default)]
pub struct RelativePath {
    /// The current point in hundredths of a pixel.
    at: (i64, i64),
}

impl RelativePath {
    /// Lifts the pen and puts it down at `(x, y)`. The first `m` of a path is absolute; later
    /// ones are relative to the end of the previous subpath, where the pen is.
    pub fn move_to(&mut self, out: &mut String, x: f64, y: f64) {
        out.push('m');
        self.step(out, x, y);
    }

    /// A line from the current point to `(x, y)` (after `m`, coordinate pairs are relative
    /// line-tos).
    pub fn line_to(&mut self, out: &mut String, x: f64, y: f64) {
        out.push(' ');
        self.step(out, x, y);
    }

    fn step(&mut self, out: &mut String, x: f64, y: f64) {
        let to = (hundredths(x), hundredths(y));
        hundredths_num(out, to.0 - self.at.0);
        if to.1 >= self.at.1 {
            out.push(' ');
        }
        hundredths_num(out, to.1 - self.at.1);
        self.at = to;
    }
}

/// `v` in hundredths, rounded half away from zero (by truncation: `f64::round` is a libm call
/// on baseline x86-64). Callers keep `v` within ±1e5.
#[inline]
fn hundredths(v: f64) -> i64 {
    let scaled = v * 100.0;
    if scaled < 0.0 {
        -((0.5 - scaled) as i64)
    } else {
        (scaled + 0.5) as i64
    }
}

/// Appends `v / 100` in decimal with no leading zero (`.35`, `-.3`, `12`, `-4.05`).
#[inline]
fn hundredths_num(out: &mut String, v: i64) {
    if v < 0 {
        out.push('-');
    }
    let n = v.unsigned_abs();
    let (int, frac) = (n / 100, (n % 100) as u8);
    if int > 0 || frac == 0 {
        let mut digits = [0u8; 20];
        let mut pos = digits.len();
        let mut rest = int;
        loop {
            pos -= 1;
            digits[pos] = b'0' + (rest % 10) as u8;
            rest /= 10;
            if rest == 0 {
                break;
            }
        }
        for &d in &digits[pos..] {
            out.push(char::from(d));
        }
    }
    if frac != 0 {
        out.push('.');
        out.push(char::from(b'0' + frac / 10));
        if frac % 10 != 0 {
            out.push(char::from(b'0' + frac % 10));
        }
    }
}

/// Appends `text` escaped for XML character data and attribute values.
pub fn escaped(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Control characters are not allowed in XML 1.0 at all.
            c if (c as u32) < 0x20 && c != '\t' && c != '\n' && c != '\r' => out.push(' '),
            c => out.push(c),
        }
    }
}

/// How a `<text>` is drawn.
pub struct TextStyle<'a> {
    pub size: f64,
    /// `start`, `middle` or `end`.
    pub anchor: &'a str,
    pub bold: bool,
    pub fill: &'a str,
}

/// Opens `<text>` at `(x, y)` (the baseline) with the style and `extra` attributes.
pub fn open_text(out: &mut String, x: f64, y: f64, style: &TextStyle<'_>, extra: &str) {
    out.push_str("<text x=\"");
    num(out, x);
    out.push_str("\" y=\"");
    num(out, y);
    out.push_str("\" font-size=\"");
    num(out, style.size);
    out.push_str("\" fill=\"");
    escaped(out, style.fill);
    out.push('"');
    if style.anchor != "start" {
        out.push_str(" text-anchor=\"");
        out.push_str(style.anchor);
        out.push('"');
    }
    if style.bold {
        out.push_str(" font-weight=\"bold\"");
    }
    out.push_str(extra);
    out.push('>');
}

/// A one-line `<text>` element with escaped content.
pub fn text(out: &mut String, x: f64, y: f64, style: &TextStyle<'_>, content: &str) {
    if content.is_empty() {
        return;
    }
    open_text(out, x, y, style, "");
    escaped(out, content);
    out.push_str("</text>\n");
}

/// Advance widths of ASCII 32..=126 in DejaVu Sans, in font units (2048 per em), read from
/// the committed `fonts/DejaVuSans.ttf` (hmtx via the Unicode cmap).
const REGULAR: [u16; 95] = [
    651, 821, 942, 1716, 1303, 1946, 1597, 563, 799, 799, 1024, 1716, 651, 739, 651, 690, 1303,
    1303, 1303, 1303, 1303, 1303, 1303, 1303, 1303, 1303, 690, 690, 1716, 1716, 1716, 1087, 2048,
    1401, 1405, 1430, 1577, 1294, 1178, 1587, 1540, 604, 604, 1343, 1141, 1767, 1532, 1612, 1235,
    1612, 1423, 1300, 1251, 1499, 1401, 2025, 1403, 1251, 1403, 799, 690, 799, 1716, 1024, 1024,
    1255, 1300, 1126, 1300, 1260, 721, 1300, 1298, 569, 569, 1186, 569, 1995, 1298, 1253, 1300,
    1300, 842, 1067, 803, 1298, 1212, 1675, 1212, 1212, 1075, 1303, 690, 1303, 1716,
];

/// The same for `fonts/DejaVuSans-Bold.ttf`.
const BOLD: [u16; 95] = [
    713, 934, 1067, 1716, 1425, 2052, 1786, 627, 936, 936, 1071, 1716, 778, 850, 778, 748, 1425,
    1425, 1425, 1425, 1425, 1425, 1425, 1425, 1425, 1425, 819, 819, 1716, 1716, 1716, 1188, 2048,
    1585, 1561, 1503, 1700, 1399, 1399, 1681, 1714, 762, 762, 1587, 1305, 2038, 1714, 1741, 1501,
    1741, 1577, 1475, 1397, 1663, 1585, 2259, 1579, 1483, 1485, 936, 748, 936, 1716, 1024, 1024,
    1382, 1466, 1214, 1466, 1389, 891, 1466, 1458, 702, 702, 1362, 702, 2134, 1458, 1407, 1466,
    1466, 1010, 1219, 979, 1458, 1335, 1892, 1321, 1335, 1192, 1458, 748, 1458, 1716,
];

/// Width of the ellipsis `…` in both faces (one em).
const ELLIPSIS: u16 = 2048;

fn advance(c: char, bold: bool) -> u16 {
    let table = if bold { &BOLD } else { &REGULAR };
    match c as u32 {
        code @ 32..=126 => table[(code - 32) as usize],
        0x2026 => ELLIPSIS,
        // Other characters: about the width of a lower-case letter or digit.
        _ => table[(u32::from(b'o') - 32) as usize],
    }
}

/// The width of `text` at `size` px, as it will be laid out with the embedded font.
pub fn text_width(text: &str, size: f64, bold: bool) -> f64 {
    let units: u32 = text.chars().map(|c| u32::from(advance(c, bold))).sum();
    f64::from(units) * size / 2048.0
}

/// `text` cut to at most `max_width` px at `size` px, ending in `…` when cut.
pub fn truncate(text: &str, max_width: f64, size: f64, bold: bool) -> Cow<'_, str> {
    if text_width(text, size, bold) <= max_width {
        return Cow::Borrowed(text);
    }
    let budget = (max_width * 2048.0 / size) as i64 - i64::from(ELLIPSIS);
    let mut used = 0i64;
    let mut end = 0;
    for (i, c) in text.char_indices() {
        used += i64::from(advance(c, bold));
        if used > budget {
            break;
        }
        end = i + c.len_utf8();
    }
    Cow::Owned(format!("{}…", text[..end].trim_end()))
}

/// `text` cut to at most `max_width` px at `size` px by dropping its middle for `…`: names
/// of runs and categories often share a prefix and differ at the end.
pub fn truncate_middle(text: &str, max_width: f64, size: f64, bold: bool) -> Cow<'_, str> {
    if text_width(text, size, bold) <= max_width {
        return Cow::Borrowed(text);
    }
    let budget = (max_width * 2048.0 / size) as i64 - i64::from(ELLIPSIS);
    let mut head_end = 0;
    let mut used = 0i64;
    for (i, c) in text.char_indices() {
        used += i64::from(advance(c, bold));
        if used > budget / 2 {
            used -= i64::from(advance(c, bold));
            break;
        }
        head_end = i + c.len_utf8();
    }
    let mut tail_start = text.len();
    for (i, c) in text[head_end..].char_indices().rev() {
        used += i64::from(advance(c, bold));
        if used > budget {
            break;
        }
        tail_start = head_end + i;
    }
    Cow::Owned(format!("{}…{}", &text[..head_end], &text[tail_start..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(v: f64) -> String {
        let mut s = String::new();
        num(&mut s, v);
        s
    }

    #[test]
    fn numbers_have_at_most_two_decimals() {
        assert_eq!(n(12.0), "12");
        assert_eq!(n(12.5), "12.5");
        assert_eq!(n(-0.254), "-0.25");
        assert_eq!(n(-0.001), "0");
        assert_eq!(n(0.05), "0.05");
        assert_eq!(n(1234567.891), "1234567.89");
        assert_eq!(n(f64::NAN), "0");
        assert_eq!(n(-7.0), "-7");
        assert_eq!(n(100.1), "100.1");
        assert_eq!(n(9.999), "10");
        assert_eq!(n(-1234.5), "-1234.5");
        assert_eq!(n(0.0), "0");
        assert_eq!(n(-0.0), "0");
        assert_eq!(n(1e20), "100000000000000000000");
    }

    #[test]
    fn relative_paths_stay_exact_to_a_hundredth() {
        let mut d = String::new();
        let mut path = RelativePath::default();
        path.move_to(&mut d, 80.0, 100.004);
        path.line_to(&mut d, 80.35, 99.5);
        path.line_to(&mut d, 92.0, 112.25);
        path.move_to(&mut d, 92.0, 100.0);
        path.line_to(&mut d, 91.99, 100.0);
        assert_eq!(d, "m80 100 .35-.5 11.65 12.75m0-12.25 -.01 0");
    }

    #[test]
    fn text_is_escaped() {
        let mut s = String::new();
        escaped(&mut s, "a<b & \"c\" 'd'>\u{1}");
        assert_eq!(s, "a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt; ");
    }

    #[test]
    fn long_text_is_cut_with_an_ellipsis() {
        let long = "a very long run name that does not fit";
        let cut = truncate(long, 80.0, 12.0, false);
        assert!(cut.ends_with('…') && cut.len() < long.len(), "{cut}");
        assert!(text_width(&cut, 12.0, false) <= 80.0);
        assert_eq!(truncate("short", 80.0, 12.0, false), "short");
        let middle = truncate_middle("experiment-number-12-long", 80.0, 10.0, false);
        assert!(
            middle.starts_with("exp") && middle.ends_with("-long") && middle.contains('…'),
            "{middle}"
        );
        assert!(text_width(&middle, 10.0, false) <= 80.0);
        assert_eq!(truncate_middle("short", 80.0, 12.0, false), "short");
        // Bold is wider than regular.
        assert!(text_width(long, 12.0, true) > text_width(long, 12.0, false));
    }
}
