//! The printed result: one line per mode, with its ratio to the baseline it is measured
//! against, then notes (group sizes, fsync counts) and the targets.

use std::time::Duration;

/// One measured mode.
pub struct Row {
    /// Short name, used by other rows to name their baseline.
    pub id: &'static str,
    /// What was measured.
    pub mode: String,
    /// Events appended or written.
    pub events: usize,
    /// Wall time.
    pub elapsed: Duration,
    /// The `id` of the row this one is compared with.
    pub baseline: Option<&'static str>,
}

impl Row {
    /// A row without a baseline.
    pub fn new(id: &'static str, mode: String, events: usize, elapsed: Duration) -> Self {
        Row {
            id,
            mode,
            events,
            elapsed,
            baseline: None,
        }
    }

    /// The same row, compared with the row `id`.
    pub fn against(mut self, id: &'static str) -> Self {
        self.baseline = Some(id);
        self
    }

    /// Events per second.
    pub fn rate(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Everything a run found, printed at the end.
#[derive(Default)]
pub struct Report {
    /// Measured modes, in print order.
    pub rows: Vec<Row>,
    /// Free-form findings (group sizes, fsync latency).
    pub notes: Vec<String>,
}

impl Report {
    /// Adds a row, and says so on stderr so a long run shows progress.
    pub fn push(&mut self, row: Row) {
        eprintln!(
            "[bench] {}: {} events in {:.2} s = {} events/s",
            row.mode,
            row.events,
            row.elapsed.as_secs_f64(),
            thousands(row.rate())
        );
        self.rows.push(row);
    }

    /// Adds a note, echoed on stderr.
    pub fn note(&mut self, note: String) {
        eprintln!("[bench] {note}");
        self.notes.push(note);
    }

    /// The rate of row `id`, if it was measured.
    pub fn rate(&self, id: &str) -> Option<f64> {
        self.rows.iter().find(|r| r.id == id).map(Row::rate)
    }

    /// Prints the table, the notes and the targets to stdout.
    pub fn print(&self, record_len: usize, targets: &[(&str, &str, f64)]) {
        let labels: Vec<String> = self
            .rows
            .iter()
            .map(|r| format!("{} [{}]", r.mode, r.id))
            .collect();
        let width = labels.iter().map(String::len).max().unwrap_or(4).max(4);
        println!();
        println!(
            "{:<width$}  {:>9}  {:>7}  {:>11}  {:>7}  {:>7}  vs",
            "mode", "events", "seconds", "events/s", "MB/s", "ratio"
        );
        for (row, label) in self.rows.iter().zip(&labels) {
            let mb = row.rate() * record_len as f64 / 1e6;
            let (ratio, vs) = match row.baseline.and_then(|id| self.rate(id).map(|r| (id, r))) {
                Some((id, base)) => (format!("{:.2}x", row.rate() / base), id),
                None => ("-".to_owned(), ""),
            };
            println!(
                "{:<width$}  {:>9}  {:>7.2}  {:>11}  {:>7.1}  {:>7}  {}",
                label,
                row.events,
                row.elapsed.as_secs_f64(),
                thousands(row.rate()),
                mb,
                ratio,
                vs,
            );
        }
        println!("(MB/s counts key + value: {record_len} bytes per event)");
        if !self.notes.is_empty() {
            println!();
            for note in &self.notes {
                println!("- {note}");
            }
        }
        println!();
        println!("targets on this machine:");
        for (label, id, target) in targets {
            let verdict = match self.rate(id) {
                Some(rate) if rate >= *target => format!("met ({} events/s)", thousands(rate)),
                Some(rate) => format!(
                    "MISSED ({} events/s, {:.0}% of target)",
                    thousands(rate),
                    100.0 * rate / target
                ),
                None => "not measured".to_owned(),
            };
            println!(
                "  {label:<34} >= {:>9} events/s: {verdict}",
                thousands(*target)
            );
        }
    }
}

/// `1234567.8` as `1,234,568`.
pub fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}
