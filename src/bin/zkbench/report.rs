//! Results: latency histograms (HdrHistogram, microseconds) and the two output lines every
//! command prints — one JSON object for scripts, one line for people.

use std::fmt::Write as _;

use hdrhistogram::Histogram;

/// Microsecond histogram covering 1 µs .. 10 min at 3 significant digits.
#[allow(clippy::expect_used)] // constant, valid bounds: this cannot fail at run time
pub(crate) fn new_hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid histogram bounds")
}

pub(crate) fn record(h: &mut Histogram<u64>, micros: u64) {
    h.saturating_record(micros.max(1));
}

/// A flat JSON object built field by field (numbers and plain strings only).
#[derive(Default)]
pub(crate) struct Json {
    fields: Vec<(String, String)>,
}

impl Json {
    pub(crate) fn num(&mut self, k: &str, v: impl std::fmt::Display) -> &mut Self {
        self.fields.push((k.to_string(), v.to_string()));
        self
    }
    pub(crate) fn float(&mut self, k: &str, v: f64) -> &mut Self {
        let s = if v.is_finite() {
            format!("{v:.3}")
        } else {
            "null".into()
        };
        self.fields.push((k.to_string(), s));
        self
    }
    pub(crate) fn str(&mut self, k: &str, v: &str) -> &mut Self {
        let escaped: String = v
            .chars()
            .flat_map(|c| match c {
                '"' | '\\' => vec!['\\', c],
                c if c.is_control() => vec![' '],
                c => vec![c],
            })
            .collect();
        self.fields.push((k.to_string(), format!("\"{escaped}\"")));
        self
    }
    pub(crate) fn opt(&mut self, k: &str, v: Option<u64>) -> &mut Self {
        match v {
            Some(v) => self.num(k, v),
            None => self.num(k, "null"),
        }
    }
    /// The latency fields `lat_us_p50` .. `lat_us_max` and the sample count.
    pub(crate) fn latency(&mut self, prefix: &str, h: &Histogram<u64>) -> &mut Self {
        self.num(&format!("{prefix}_count"), h.len());
        for (name, q) in QUANTILES {
            let v = if h.is_empty() {
                0
            } else {
                h.value_at_quantile(q)
            };
            self.num(&format!("{prefix}_{name}"), v);
        }
        self.num(&format!("{prefix}_max"), h.max())
    }
    pub(crate) fn render(&self) -> String {
        let mut s = String::from("{");
        for (i, (k, v)) in self.fields.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            let _ = write!(s, "\"{k}\":{v}");
        }
        s.push('}');
        s
    }
}

pub(crate) const QUANTILES: [(&str, f64); 4] =
    [("p50", 0.50), ("p90", 0.90), ("p99", 0.99), ("p999", 0.999)];

/// `p50 1.2ms p90 ...` for the human line.
pub(crate) fn latency_line(h: &Histogram<u64>) -> String {
    let mut s = String::new();
    for (name, q) in QUANTILES {
        let v = if h.is_empty() {
            0
        } else {
            h.value_at_quantile(q)
        };
        let _ = write!(s, "{name} {} ", fmt_us(v));
    }
    let _ = write!(s, "max {}", fmt_us(h.max()));
    s
}

pub(crate) fn fmt_us(us: u64) -> String {
    if us >= 10_000 {
        format!("{:.1}ms", us as f64 / 1000.0)
    } else if us >= 1000 {
        format!("{:.2}ms", us as f64 / 1000.0)
    } else {
        format!("{us}us")
    }
}

/// Print the machine line (prefixed `JSON `) and then the human line.
pub(crate) fn emit(json: &Json, human: &str) {
    println!("JSON {}", json.render());
    println!("{human}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_escapes_and_orders() {
        let mut j = Json::default();
        j.str("mode", "a\"b").num("ops", 3).float("x", 1.5);
        assert_eq!(j.render(), r#"{"mode":"a\"b","ops":3,"x":1.500}"#);
    }

    #[test]
    fn quantiles_of_known_values() {
        let mut h = new_hist();
        for v in 1..=1000 {
            record(&mut h, v);
        }
        assert_eq!(h.value_at_quantile(0.5), 500);
        assert_eq!(h.max(), 1000);
    }
}
