//! Every figure of a report run, by subject and name, and how they become JSON keys.
//!
//! Figures are stored per subject (`counter`, `counter-lean`, `native-actor`) so the table can
//! put them side by side; [`Figures::to_json`] names them with [`key`]. One rule fills gaps in
//! the unprefixed keys: where the SDK counter was skipped at a session count (1 M `counter`
//! sessions do not fit in 24 GiB), the figures `counter-lean` measured at that count are also
//! written unprefixed (`create_per_s_1m`), and `guest_1m` names the guest that produced them.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::plan::{Skip, UNPREFIXED, key, label};

/// The guest whose figures stand in for the SDK counter's where it was skipped.
pub const STAND_IN: &str = "counter-lean";

/// The figures of one run.
#[derive(Debug, Default)]
pub struct Figures {
    /// (subject, figure name) → value.
    values: BTreeMap<(String, String), f64>,
    /// (subject, session count) → why it was not measured.
    skipped: BTreeMap<(String, usize), Skip>,
}

impl Figures {
    /// Records figure `name` of `subject`.
    pub fn set(&mut self, subject: &str, name: impl Into<String>, value: f64) {
        self.values
            .insert((subject.to_string(), name.into()), value);
    }

    /// Figure `name` of `subject`, if measured.
    pub fn get(&self, subject: &str, name: &str) -> Option<f64> {
        self.values
            .get(&(subject.to_string(), name.to_string()))
            .copied()
    }

    /// Records `name` as a copy of `from`, when `from` was measured.
    pub fn alias(&mut self, subject: &str, name: &str, from: &str) {
        if let Some(value) = self.get(subject, from) {
            self.set(subject, name, value);
        }
    }

    /// Records that `subject` was not measured at `n` sessions, and why.
    pub fn skip(&mut self, subject: &str, n: usize, why: Skip) {
        self.skipped.insert((subject.to_string(), n), why);
    }

    /// Why `subject` was not measured at `n` sessions, if it was skipped.
    pub fn skipped(&self, subject: &str, n: usize) -> Option<Skip> {
        self.skipped.get(&(subject.to_string(), n)).copied()
    }

    /// Every skip, as `(subject, count, why)`.
    pub fn skips(&self) -> impl Iterator<Item = (&str, usize, Skip)> {
        self.skipped
            .iter()
            .map(|((subject, n), why)| (subject.as_str(), *n, *why))
    }

    /// The session counts at which the SDK counter was skipped and [`STAND_IN`] measured.
    pub fn stand_in_counts(&self) -> Vec<usize> {
        self.skipped
            .keys()
            .filter(|(subject, _)| subject == UNPREFIXED)
            .map(|&(_, n)| n)
            .filter(|&n| self.skipped(STAND_IN, n).is_none())
            .collect()
    }

    /// The JSON object of the report: every figure under its [`key`], the stand-in figures
    /// unprefixed, `guest_<count>` for each stand-in count and `skipped` (one line per skip).
    pub fn to_json(&self) -> BTreeMap<String, Value> {
        let mut json = BTreeMap::new();
        for ((subject, name), value) in &self.values {
            json.insert(key(subject, name), Value::from(*value));
        }
        for n in self.stand_in_counts() {
            let count = label(n);
            for ((subject, name), value) in &self.values {
                if subject == STAND_IN && names_count(name, &count) {
                    json.entry(name.clone()).or_insert(Value::from(*value));
                }
            }
            json.insert(format!("guest_{count}"), Value::from(STAND_IN));
        }
        let skipped: Vec<Value> = self
            .skips()
            .map(|(subject, n, why)| Value::from(format!("{subject} at {}: {why}", label(n))))
            .collect();
        if !skipped.is_empty() {
            json.insert("skipped".into(), Value::from(skipped));
        }
        json
    }
}

/// Whether figure `name` is taken at the count labelled `count` (`create_per_s_1m`,
/// `create_per_s_1m_2_tasks`, not `create_per_s_10m`).
pub fn names_count(name: &str, count: &str) -> bool {
    name.split('_').any(|part| part == count)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn skip() -> Skip {
        Skip {
            need_kib: 48 << 20,
            available_kib: 22 << 20,
        }
    }

    #[test]
    fn counts_are_matched_as_whole_words() {
        assert!(names_count("create_per_s_1m", "1m"));
        assert!(names_count("create_per_s_1m_2_tasks", "1m"));
        assert!(!names_count("create_per_s_10m", "1m"));
        assert!(!names_count("create_per_s_100k", "1m"));
    }

    #[test]
    fn stand_in_figures_fill_the_unprefixed_keys() {
        let mut f = Figures::default();
        f.set("counter", "create_per_s_100k", 20_000.0);
        f.set("counter-lean", "create_per_s_100k", 40_000.0);
        f.set("counter-lean", "create_per_s_1m", 39_000.0);
        f.set("counter-lean", "live_kib_per_session_1m", 15.7);
        f.set("native-actor", "create_per_s_1m", 900_000.0);
        f.skip("counter", 1_000_000, skip());
        let json = f.to_json();
        assert_eq!(json["create_per_s_100k"], 20_000.0);
        assert_eq!(json["counter_lean_create_per_s_100k"], 40_000.0);
        assert_eq!(json["create_per_s_1m"], 39_000.0);
        assert_eq!(json["counter_lean_create_per_s_1m"], 39_000.0);
        assert_eq!(json["live_kib_per_session_1m"], 15.7);
        assert_eq!(json["native_actor_create_per_s_1m"], 900_000.0);
        assert_eq!(json["guest_1m"], "counter-lean");
        assert_eq!(
            json["skipped"][0],
            "counter at 1m: skipped: needs 48.0 GiB, 22.0 GiB available"
        );
    }

    #[test]
    fn no_stand_in_when_both_were_skipped_or_none_was() {
        let mut f = Figures::default();
        f.set("counter", "create_per_s_1k", 1.0);
        assert!(!f.to_json().contains_key("skipped"));
        f.skip("counter", 1_000_000, skip());
        f.skip("counter-lean", 1_000_000, skip());
        assert!(f.stand_in_counts().is_empty());
        assert!(!f.to_json().contains_key("guest_1m"));
    }

    #[test]
    fn aliases_copy_measured_figures_only() {
        let mut f = Figures::default();
        f.set("native-actor", "call_per_s_2_callers", 5.0);
        f.alias("native-actor", "call_per_s", "call_per_s_2_callers");
        f.alias("native-actor", "call_p99_us", "call_p99_us_2_callers");
        assert_eq!(f.get("native-actor", "call_per_s"), Some(5.0));
        assert_eq!(f.get("native-actor", "call_p99_us"), None);
    }
}
