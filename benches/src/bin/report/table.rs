//! The printed table: one row per figure, one column per subject, then the target.
//!
//! Subjects stand side by side (`counter`, `counter-lean`, `native-actor`) so every figure is
//! read next to its baseline; baseline rows (bare wasmtime) are indented under the figure they
//! are the floor of.

use std::fmt::Write;
use std::time::Duration;

use sessionhost_bench::plan::SUBJECTS;

/// One line of the table.
#[derive(Debug)]
pub(crate) struct Row {
    /// What is measured, and how.
    pub(crate) figure: String,
    /// One cell per subject of [`SUBJECTS`]; empty when not measured for that subject.
    pub(crate) cells: [String; SUBJECTS.len()],
    /// The brief's target, if any.
    pub(crate) target: &'static str,
}

/// What a table is made of: a title line, sections of rows, notes under the table.
#[derive(Debug, Default)]
pub(crate) struct Table {
    /// Rows; a row whose figure starts with `#` is a section heading.
    pub(crate) rows: Vec<Row>,
    /// Lines printed under the table.
    pub(crate) notes: Vec<String>,
}

impl Table {
    /// Starts a section.
    pub(crate) fn section(&mut self, title: &str) {
        self.rows.push(Row {
            figure: format!("# {title}"),
            cells: Default::default(),
            target: "",
        });
    }

    /// Adds a row.
    pub(crate) fn row(
        &mut self,
        figure: impl Into<String>,
        cells: [String; SUBJECTS.len()],
        target: &'static str,
    ) {
        self.rows.push(Row {
            figure: figure.into(),
            cells,
            target,
        });
    }

    /// The table as text.
    pub(crate) fn render(&self, quick: bool, took: Duration) -> String {
        let width = self
            .rows
            .iter()
            .filter(|r| !r.figure.starts_with("# "))
            .map(|r| r.figure.chars().count())
            .max()
            .unwrap_or(0);
        let cell = self
            .rows
            .iter()
            .flat_map(|r| r.cells.iter().map(|c| c.chars().count()))
            .chain(SUBJECTS.iter().map(|s| s.len()))
            .max()
            .unwrap_or(0);
        let mut out = String::new();
        let _ = writeln!(
            out,
            "\nsessionhost bench report ({}, {} cores, took {:.0} s)\n",
            if quick { "quick" } else { "full" },
            std::thread::available_parallelism().map_or(0, |n| n.get()),
            took.as_secs_f64()
        );
        let _ = write!(out, "{:width$}", "figure");
        for subject in SUBJECTS {
            let _ = write!(out, "  {subject:>cell$}");
        }
        let _ = writeln!(out, "  target (BRIEF)");
        let rule = width + SUBJECTS.len() * (cell + 2) + 16;
        let _ = writeln!(out, "{}", "-".repeat(rule));
        for row in &self.rows {
            if let Some(title) = row.figure.strip_prefix("# ") {
                let _ = writeln!(out, "{title}");
                continue;
            }
            let _ = write!(out, "{:width$}", row.figure);
            for c in &row.cells {
                let _ = write!(out, "  {c:>cell$}");
            }
            let _ = writeln!(out, "  {}", row.target);
        }
        for note in &self.notes {
            let _ = writeln!(out, "{note}");
        }
        out
    }
}

/// A rate as a whole number with thin groups: `1 234 567`.
pub(crate) fn rate(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut out = String::new();
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(' ');
        }
        out.push(d);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_grouped_by_thousands() {
        assert_eq!(rate(0.4), "0");
        assert_eq!(rate(999.0), "999");
        assert_eq!(rate(23_106.0), "23 106");
        assert_eq!(rate(51_159_505.8), "51 159 506");
    }

    #[test]
    fn rows_line_up() {
        let mut t = Table::default();
        t.section("creation");
        t.row(
            "creations/s",
            ["1".into(), "22".into(), String::new()],
            "≥ 150 000",
        );
        t.notes.push("a note".into());
        let text = t.render(true, Duration::from_secs(1));
        assert!(text.contains("creation\n"));
        assert!(text.contains("a note"));
        let line = text
            .lines()
            .find(|l| l.starts_with("creations/s"))
            .expect("row printed");
        let header = text
            .lines()
            .find(|l| l.starts_with("figure"))
            .expect("header printed");
        assert_eq!(line.find("≥"), header.find("target"));
    }
}
