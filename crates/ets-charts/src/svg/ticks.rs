//! Where an axis gets its ticks and what they say: "nice" 1-2-5 steps on linear axes,
//! decades (10ⁿ) on log axes, calendar-aligned UTC dates and times on time axes, and the
//! category names on category axes.

use crate::figure::Scale;
use crate::utc::{self, Datelike, Timelike};

/// One tick: a data value and its label.
#[derive(Debug, Clone, PartialEq)]
pub struct Tick {
    pub value: f64,
    pub text: String,
    /// Superscript after `text` (the exponent of `10ⁿ`).
    pub sup: Option<String>,
    /// A second label line (the date under a time of day, the year under a month).
    pub second: Option<String>,
}

impl Tick {
    fn plain(value: f64, text: String) -> Self {
        Tick {
            value,
            text,
            sup: None,
            second: None,
        }
    }
}

/// Ticks of a numeric axis over `lo..hi` (data units, either order), about `target` of them.
/// Category axes are labelled by [`category`].
pub fn numeric(scale: Scale, lo: f64, hi: f64, target: usize) -> Vec<Tick> {
    let (lo, hi) = (lo.min(hi), lo.max(hi));
    match scale {
        Scale::Log => log(lo, hi, target),
        Scale::Time => time(lo, hi, target),
        Scale::Linear | Scale::Category => linear(lo, hi, target),
    }
}

/// A 1-2-5 step giving about `target` intervals over `span`.
pub fn nice_step(span: f64, target: usize) -> f64 {
    let raw = span / target.max(1) as f64;
    if !(raw > 0.0 && raw.is_finite()) {
        return 1.0;
    }
    let magnitude = 10f64.powf(raw.log10().floor());
    let m = match raw / magnitude {
        n if n < 1.5 => 1.0,
        n if n < 3.5 => 2.0,
        n if n < 7.5 => 5.0,
        _ => 10.0,
    };
    m * magnitude
}

/// Multiples of a nice step inside `lo..=hi`.
pub fn linear(lo: f64, hi: f64, target: usize) -> Vec<Tick> {
    let step = nice_step(hi - lo, target);
    let format = NumberFormat::new(lo.abs().max(hi.abs()), step);
    multiples(lo, hi, step)
        .map(|v| Tick::plain(v, format.format(v)))
        .collect()
}

fn multiples(lo: f64, hi: f64, step: f64) -> impl Iterator<Item = f64> {
    let first = (lo / step - 1e-9).ceil() as i64;
    let last = (hi / step + 1e-9).floor() as i64;
    // `i * step` rather than a running sum, so values do not drift; snap -0 and ~0 to 0.
    (first..=last.min(first + 1000)).map(move |i| {
        let v = i as f64 * step;
        if v.abs() < step * 1e-9 { 0.0 } else { v }
    })
}

/// How numbers of one axis are written: with as many decimals as the step needs, with k/M/G/T
/// for large values and in scientific notation for tiny ones.
#[derive(Debug, Clone, Copy)]
pub struct NumberFormat {
    divisor: f64,
    suffix: &'static str,
    decimals: usize,
    scientific: bool,
}

impl NumberFormat {
    /// For values up to `magnitude` in absolute value, `step` apart.
    pub fn new(magnitude: f64, step: f64) -> Self {
        let (divisor, suffix) = match magnitude {
            m if m >= 1e12 => (1e12, "T"),
            m if m >= 1e9 => (1e9, "G"),
            m if m >= 1e6 => (1e6, "M"),
            m if m >= 1e4 => (1e3, "k"),
            _ => (1.0, ""),
        };
        let step = step.abs() / divisor;
        let decimals = if step >= 1.0 || step == 0.0 || !step.is_finite() {
            0
        } else {
            ((-step.log10()) - 1e-9).ceil().clamp(0.0, 12.0) as usize
        };
        let scientific = magnitude > 0.0 && magnitude < 1e-3;
        let decimals = if scientific {
            (magnitude.log10().floor() - step.log10().floor()).clamp(0.0, 6.0) as usize
        } else {
            decimals
        };
        NumberFormat {
            divisor,
            suffix,
            decimals,
            scientific,
        }
    }

    pub fn format(&self, v: f64) -> String {
        if v == 0.0 {
            return "0".to_owned();
        }
        if self.scientific {
            return format!("{:.*e}", self.decimals, v);
        }
        let mut text = format!("{:.*}", self.decimals, v / self.divisor);
        // Like Plotly: "2", not "2.0", next to "1.5".
        if text.contains('.') {
            text.truncate(text.trim_end_matches('0').trim_end_matches('.').len());
        }
        if text == "-0" {
            text.remove(0);
        }
        text.push_str(self.suffix);
        text
    }
}

/// A value written with about three significant digits (heatmap cells, colour bars).
pub fn short_number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e7 {
        return format!("{v:.0}");
    }
    let magnitude = v.abs();
    let step = if magnitude > 0.0 {
        10f64.powf(magnitude.log10().floor() - 2.0)
    } else {
        1.0
    };
    NumberFormat::new(magnitude, step).format(v)
}

/// Decades `10ⁿ` when at least two fit (every k-th when there are many), else 1-2-5 steps
/// within the decades, else linear ticks.
pub fn log(lo: f64, hi: f64, target: usize) -> Vec<Tick> {
    let (a0, a1) = (lo.log10(), hi.log10());
    let first = (a0 - 1e-9).ceil() as i64;
    let last = (a1 + 1e-9).floor() as i64;
    let decades = last - first + 1;
    if decades >= 2 {
        let every = (decades as usize).div_ceil(target.max(1)).max(1) as i64;
        return (first..=last)
            .filter(|n| n.rem_euclid(every) == 0)
            .map(|n| Tick {
                value: 10f64.powi(n as i32),
                text: "10".to_owned(),
                sup: Some(n.to_string()),
                second: None,
            })
            .collect();
    }
    let mut ticks = Vec::new();
    for n in first - 1..=last {
        for m in [1.0, 2.0, 5.0] {
            let v = m * 10f64.powi(n as i32);
            if v >= lo * (1.0 - 1e-9) && v <= hi * (1.0 + 1e-9) {
                let decimals = (-(n as f64)).max(0.0) as usize;
                let format = NumberFormat::new(v, 10f64.powi(n as i32));
                let text = if format.divisor == 1.0 && !format.scientific {
                    format!("{v:.decimals$}")
                } else {
                    format.format(v)
                };
                ticks.push(Tick::plain(v, text));
            }
        }
    }
    if ticks.len() >= 2 {
        ticks
    } else {
        linear(lo, hi, target)
    }
}

const SECOND: f64 = 1000.0;
const MINUTE: f64 = 60.0 * SECOND;
const HOUR: f64 = 60.0 * MINUTE;
const DAY: f64 = 24.0 * HOUR;
/// Steps in milliseconds, the smallest that gives at most `target` ticks is taken.
const FIXED_STEPS: [f64; 29] = [
    1.0,
    2.0,
    5.0,
    10.0,
    20.0,
    50.0,
    100.0,
    200.0,
    500.0,
    SECOND,
    2.0 * SECOND,
    5.0 * SECOND,
    10.0 * SECOND,
    15.0 * SECOND,
    30.0 * SECOND,
    MINUTE,
    2.0 * MINUTE,
    5.0 * MINUTE,
    10.0 * MINUTE,
    15.0 * MINUTE,
    30.0 * MINUTE,
    HOUR,
    2.0 * HOUR,
    3.0 * HOUR,
    6.0 * HOUR,
    12.0 * HOUR,
    DAY,
    2.0 * DAY,
    7.0 * DAY,
];
const MONTH_STEPS: [i64; 4] = [1, 2, 3, 6];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Ticks of a time axis (milliseconds since the Unix epoch, shown in UTC).
pub fn time(lo: f64, hi: f64, target: usize) -> Vec<Tick> {
    let raw = (hi - lo) / target.max(1) as f64;
    if !(raw.is_finite() && raw > 0.0) || lo.abs() > 1e16 || hi.abs() > 1e16 {
        return linear(lo, hi, target);
    }
    if let Some(&step) = FIXED_STEPS.iter().find(|&&s| s >= raw) {
        // Weeks start on Mondays (1970-01-05 was one); everything else on multiples of the
        // step since the epoch, i.e. on whole seconds, minutes, hours and days in UTC.
        let offset = if step == 7.0 * DAY { 4.0 * DAY } else { 0.0 };
        let values = multiples(lo - offset, hi - offset, step).map(|v| v + offset);
        return label_times(values, step);
    }
    let months = raw / (30.44 * DAY);
    let step = match MONTH_STEPS.iter().find(|&&m| m as f64 >= months) {
        Some(&m) => m,
        None => 12 * nice_step(months / 12.0 * target as f64, target).max(1.0) as i64,
    };
    let Some(start) = utc::at(lo.floor() as i64) else {
        return Vec::new();
    };
    let (y, m) = (i64::from(start.year()), i64::from(start.month()));
    let mut index = (y * 12 + m - 1).div_euclid(step) * step;
    let mut ticks = Vec::new();
    let mut previous_year = None;
    while ticks.len() < 1000 {
        let (year, month) = (index.div_euclid(12), index.rem_euclid(12) + 1);
        let Some(t) = utc::midnight_ms(year, month as u32, 1) else {
            break;
        };
        let t = t as f64;
        if t > hi {
            break;
        }
        if t >= lo {
            let new_year = previous_year != Some(year);
            previous_year = Some(year);
            ticks.push(if step >= 12 {
                Tick::plain(t, year.to_string())
            } else {
                Tick {
                    value: t,
                    text: MONTHS[(month - 1) as usize].to_owned(),
                    sup: None,
                    second: new_year.then(|| year.to_string()),
                }
            });
        }
        index += step;
    }
    ticks
}

fn label_times(values: impl Iterator<Item = f64>, step: f64) -> Vec<Tick> {
    let mut previous_day = None;
    let mut previous_year = None;
    values
        .map(|t| {
            let ms = t.round() as i64;
            let days = ms.div_euclid(DAY as i64);
            let Some(at) = utc::at(ms) else {
                return Tick::plain(t, String::new());
            };
            let (year, day) = (at.year(), at.day());
            let (h, mi, s, milli) = (
                at.hour(),
                at.minute(),
                at.second(),
                at.timestamp_subsec_millis(),
            );
            let month_name = MONTHS[at.month0() as usize];
            if step >= DAY {
                let new_year = previous_year != Some(year);
                previous_year = Some(year);
                return Tick {
                    value: t,
                    text: format!("{month_name} {day:02}"),
                    sup: None,
                    second: new_year.then(|| year.to_string()),
                };
            }
            let text = if step < SECOND {
                format!("{h:02}:{mi:02}:{s:02}.{milli:03}")
            } else if step < MINUTE {
                format!("{h:02}:{mi:02}:{s:02}")
            } else {
                format!("{h:02}:{mi:02}")
            };
            let new_day = previous_day != Some(days);
            previous_day = Some(days);
            Tick {
                value: t,
                text,
                sup: None,
                second: new_day.then(|| format!("{month_name} {day:02}, {year}")),
            }
        })
        .collect()
}

/// The category indices labelled on an axis showing `lo..hi` over `length` px: every one,
/// or every k-th when they would be closer than `min_spacing` px.
pub fn category(count: usize, lo: f64, hi: f64, length: f64, min_spacing: f64) -> Vec<usize> {
    let (lo, hi) = (lo.min(hi), lo.max(hi));
    let per_category = length / (hi - lo).max(1e-9);
    let every = (min_spacing / per_category).ceil().max(1.0) as usize;
    let first = lo.ceil().max(0.0) as usize;
    let last = hi.floor().min(count as f64 - 1.0);
    if last < first as f64 {
        return Vec::new();
    }
    (first..=last as usize).filter(|i| i % every == 0).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(ticks: &[Tick]) -> Vec<&str> {
        ticks.iter().map(|t| t.text.as_str()).collect()
    }

    #[test]
    fn linear_ticks_step_by_one_two_or_five() {
        assert_eq!(
            texts(&linear(0.0, 10.0, 5)),
            ["0", "2", "4", "6", "8", "10"]
        );
        assert_eq!(
            texts(&linear(-0.13, 0.42, 5)),
            ["-0.1", "0", "0.1", "0.2", "0.3", "0.4"]
        );
        assert_eq!(
            texts(&linear(0.0, 25_000.0, 5)),
            ["0", "5k", "10k", "15k", "20k", "25k"]
        );
        assert_eq!(
            texts(&linear(1.5e6, 2.5e6, 4)),
            ["1.6M", "1.8M", "2M", "2.2M", "2.4M"]
        );
        assert_eq!(texts(&linear(0.0, 3e-5, 3)), ["0", "1e-5", "2e-5", "3e-5"]);
        assert_eq!(nice_step(7.0, 5), 1.0);
        assert_eq!(nice_step(30.0, 5), 5.0);
    }

    #[test]
    fn log_ticks_are_decades_when_two_fit() {
        let ticks = log(0.5, 2000.0, 10);
        assert_eq!(
            ticks.iter().map(|t| t.value).collect::<Vec<_>>(),
            [1.0, 10.0, 100.0, 1000.0]
        );
        assert_eq!(ticks[3].text, "10");
        assert_eq!(ticks[3].sup.as_deref(), Some("3"));
        // Twelve decades with room for four ticks: every third decade.
        let sparse = log(1e-6, 1e6, 4);
        assert!(sparse.len() <= 5 && sparse.iter().all(|t| t.sup.is_some()));
        // Within one decade: 1-2-5 steps.
        assert_eq!(texts(&log(1.5, 30.0, 5)), ["2", "5", "10", "20"]);
        assert_eq!(texts(&log(0.015, 0.06, 5)), ["0.02", "0.05"]);
    }

    #[test]
    fn time_ticks_land_on_calendar_units() {
        let day = utc::midnight_ms(2024, 3, 10).unwrap() as f64;
        // Six hours from 01:10: ticks on whole hours, the date under the first.
        let ticks = time(day + 70.0 * MINUTE, day + 7.0 * HOUR, 6);
        assert_eq!(
            texts(&ticks),
            ["02:00", "03:00", "04:00", "05:00", "06:00", "07:00"]
        );
        assert_eq!(ticks[0].second.as_deref(), Some("Mar 10, 2024"));
        assert_eq!(ticks[1].second, None);
        // Across midnight the new date is shown again.
        let ticks = time(day - 2.0 * HOUR, day + 2.0 * HOUR, 4);
        let dated: Vec<_> = ticks.iter().filter_map(|t| t.second.as_deref()).collect();
        assert_eq!(dated, ["Mar 09, 2024", "Mar 10, 2024"]);
        // Two years: months, the year under January.
        let start = utc::midnight_ms(2023, 5, 17).unwrap() as f64;
        let end = utc::midnight_ms(2025, 5, 1).unwrap() as f64;
        let ticks = time(start, end, 6);
        assert_eq!(ticks[0].text, "Jul");
        assert!(
            ticks
                .iter()
                .any(|t| t.text == "Jan" && t.second.as_deref() == Some("2024"))
        );
        // Decades: years.
        let end = utc::midnight_ms(2043, 1, 1).unwrap() as f64;
        assert!(texts(&time(start, end, 5)).contains(&"2030"));
    }

    #[test]
    fn categories_thin_out_when_crowded() {
        assert_eq!(category(5, -0.5, 4.5, 500.0, 20.0), [0, 1, 2, 3, 4]);
        assert_eq!(
            category(100, -0.5, 99.5, 500.0, 20.0),
            (0..100).step_by(4).collect::<Vec<_>>()
        );
        assert!(category(0, -0.5, 0.5, 500.0, 20.0).is_empty());
    }

    #[test]
    fn short_numbers_keep_three_significant_digits() {
        assert_eq!(short_number(42.0), "42");
        assert_eq!(short_number(0.123_456), "0.123");
        assert_eq!(short_number(-4.56789), "-4.57");
    }
}
