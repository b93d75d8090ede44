//! The lines a trial's command prints to talk to `ets agent`, on standard output or standard
//! error, each alone on its line (leading and trailing spaces allowed):
//!
//! - `ets: objective=<float>` — the trial's result; `ets: objective=<float>,<float>,…` for a
//!   study of several objectives. The last such line wins.
//! - `ets: report step=<int> value=<float>` — an intermediate value for the pruner.
//!
//! Other lines, also other lines starting with `ets:`, are not for the agent.

/// What a line tells the agent.
#[derive(Debug, Clone, PartialEq)]
pub enum Directive {
    /// The trial's objective value(s), as printed (a NaN makes the trial fail).
    Objective(Vec<f64>),
    /// An intermediate value at a step.
    Report { step: i64, value: f64 },
}

/// `None` for a line that is not for the agent; `Some(Err(why))` for an `objective` or
/// `report` line that cannot be read.
pub fn parse_line(line: &str) -> Option<Result<Directive, String>> {
    let rest = line.trim().strip_prefix("ets:")?.trim_start();
    if let Some(values) = rest.strip_prefix("objective=") {
        return Some(parse_objective(values));
    }
    let report = rest.strip_prefix("report")?;
    if !(report.is_empty() || report.starts_with(char::is_whitespace)) {
        return None;
    }
    Some(parse_report(report))
}

fn parse_objective(values: &str) -> Result<Directive, String> {
    values
        .split(',')
        .map(|v| {
            let v = v.trim();
            v.parse::<f64>()
                .map_err(|_| format!("objective value '{v}' is not a number"))
        })
        .collect::<Result<Vec<f64>, String>>()
        .map(Directive::Objective)
}

fn parse_report(fields: &str) -> Result<Directive, String> {
    let (mut step, mut value) = (None, None);
    for field in fields.split_whitespace() {
        let (key, text) = field
            .split_once('=')
            .ok_or_else(|| format!("'{field}' is not key=value"))?;
        match key {
            "step" if step.is_none() => {
                let parsed = text
                    .parse::<i64>()
                    .map_err(|_| format!("step '{text}' is not an integer"))?;
                step = Some(parsed);
            }
            "value" if value.is_none() => {
                let parsed = text
                    .parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite())
                    .ok_or_else(|| format!("value '{text}' is not a finite number"))?;
                value = Some(parsed);
            }
            "step" | "value" => return Err(format!("{key} given twice")),
            _ => {
                return Err(format!(
                    "unknown field '{key}' (a report has step and value)"
                ));
            }
        }
    }
    match (step, value) {
        (Some(step), Some(value)) => Ok(Directive::Report { step, value }),
        _ => Err("a report needs step=<int> value=<float>".to_owned()),
    }
}

/// Longest line kept for parsing; the rest of a longer line is skipped (it cannot be a
/// directive).
const MAX_LINE: usize = 64 * 1024;

/// Cuts a stream of output into lines, at `\n` or `\r` (so a directive printed after a
/// progress bar's carriage return is still alone on its line).
#[derive(Debug, Default)]
pub struct LineSplitter {
    partial: Vec<u8>,
    overlong: bool,
}

impl LineSplitter {
    /// The lines that `chunk` completes.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<String> {
        let mut lines = Vec::new();
        for &byte in chunk {
            if byte == b'\n' || byte == b'\r' {
                if !self.overlong && !self.partial.is_empty() {
                    lines.push(String::from_utf8_lossy(&self.partial).into_owned());
                }
                self.partial.clear();
                self.overlong = false;
            } else if self.partial.len() < MAX_LINE {
                self.partial.push(byte);
            } else {
                self.overlong = true;
            }
        }
        lines
    }

    /// The last line, when the output ends without a newline.
    pub fn finish(&mut self) -> Option<String> {
        let line = (!self.overlong && !self.partial.is_empty())
            .then(|| String::from_utf8_lossy(&self.partial).into_owned());
        self.partial.clear();
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn directive(line: &str) -> Directive {
        parse_line(line)
            .unwrap_or_else(|| panic!("{line:?} is for the agent"))
            .unwrap_or_else(|e| panic!("{line:?}: {e}"))
    }

    fn refused(line: &str) -> String {
        match parse_line(line) {
            Some(Err(why)) => why,
            other => panic!("{line:?} should be refused, got {other:?}"),
        }
    }

    #[test]
    fn objectives_one_or_several() {
        assert_eq!(
            directive("ets: objective=0.25"),
            Directive::Objective(vec![0.25])
        );
        assert_eq!(
            directive("  ets:objective=1.2, 3.4e-2\r\n"),
            Directive::Objective(vec![1.2, 0.034])
        );
        assert_eq!(
            directive("ets: objective=-7"),
            Directive::Objective(vec![-7.0])
        );
        // NaN is read (the trial then fails, as Optuna fails a trial returning NaN).
        match directive("ets: objective=nan") {
            Directive::Objective(v) => assert!(v[0].is_nan()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn reports_take_step_and_value_in_any_order() {
        assert_eq!(
            directive("ets: report step=3 value=0.5"),
            Directive::Report {
                step: 3,
                value: 0.5
            }
        );
        assert_eq!(
            directive("ets: report   value=-1e3\tstep=0 "),
            Directive::Report {
                step: 0,
                value: -1000.0
            }
        );
    }

    #[test]
    fn malformed_directives_say_why() {
        assert!(refused("ets: objective=").contains("not a number"));
        assert!(refused("ets: objective=abc").contains("'abc'"));
        assert!(refused("ets: objective=1,,2").contains("not a number"));
        assert!(refused("ets: report step=1").contains("step=<int> value=<float>"));
        assert!(refused("ets: report step=1.5 value=2").contains("not an integer"));
        assert!(refused("ets: report step=1 value=inf").contains("finite"));
        assert!(refused("ets: report step=1 value=2 loss=3").contains("unknown field 'loss'"));
        assert!(refused("ets: report step=1 step=2 value=2").contains("twice"));
        assert!(refused("ets: report 7").contains("key=value"));
    }

    #[test]
    fn other_lines_are_not_for_the_agent() {
        for line in [
            "",
            "epoch 3: objective=0.5",
            "objective=0.5",
            "INFO ets: objective=0.5",
            "ets: invalid configuration: key 'port'",
            "ets: reporting progress",
            "ets: objectives=1",
            "ets agent: trial 3 complete",
        ] {
            assert_eq!(parse_line(line), None, "{line:?}");
        }
    }

    #[test]
    fn output_is_cut_into_lines_at_newlines_and_carriage_returns() {
        let mut splitter = LineSplitter::default();
        assert!(splitter.push(b"epoch 1 ").is_empty());
        assert_eq!(splitter.push(b"done\nets: obj"), ["epoch 1 done"]);
        assert_eq!(
            splitter.push(b"ective=1\r\n 50%|###\rets: report step=1 value=2\r\n"),
            ["ets: objective=1", " 50%|###", "ets: report step=1 value=2"]
        );
        assert_eq!(splitter.push(b"tail"), Vec::<String>::new());
        assert_eq!(splitter.finish().as_deref(), Some("tail"));
        assert_eq!(splitter.finish(), None);
        // A line longer than the limit is skipped whole; the next one is read.
        let long = vec![b'x'; MAX_LINE + 10];
        assert!(splitter.push(&long).is_empty());
        assert_eq!(splitter.push(b"\nets: objective=2\n"), ["ets: objective=2"]);
    }
}
