//! The problems a run names in its report (files it could not read, objects missing or
//! damaged, errors). Every problem is counted, and the first [`LISTED`] of each kind are
//! kept by name: a disk that lost a million objects makes a report of a page, not of a
//! million lines. Each problem is logged as it is met, so none goes unsaid.

use serde::Serialize;
use std::borrow::Cow;

/// How many problems of one kind a report names; the rest are only counted.
pub const LISTED: usize = 50;

/// Problems of one kind, in the order they were met.
#[derive(Debug, Default, Clone)]
pub struct Problems {
    listed: Vec<String>,
    count: usize,
}

impl Problems {
    pub fn push(&mut self, problem: String) {
        self.count += 1;
        if self.listed.len() < LISTED {
            self.listed.push(problem);
        }
    }

    /// Whether the next problem pushed would be named.
    pub fn names_more(&self) -> bool {
        self.listed.len() < LISTED
    }

    /// Counts problems met but not named (past the first [`LISTED`]).
    pub fn count_unnamed(&mut self, n: usize) {
        self.count += n;
    }

    /// How many were met, named or not.
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The named problems, then one line that counts the rest (if any).
    pub fn iter(&self) -> impl Iterator<Item = Cow<'_, str>> {
        let unlisted = self.count - self.listed.len();
        self.listed
            .iter()
            .map(|p| Cow::Borrowed(p.as_str()))
            .chain((unlisted > 0).then(|| Cow::Owned(format!("… and {unlisted} more"))))
    }
}

/// A list of strings, as `iter` gives them: JSON readers see what people see.
impl Serialize for Problems {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_first_and_counts_the_rest() {
        let mut p = Problems::default();
        assert!(p.is_empty());
        for i in 0..LISTED + 7 {
            p.push(format!("problem {i}"));
        }
        assert_eq!(p.len(), LISTED + 7);
        let lines: Vec<_> = p.iter().collect();
        assert_eq!(lines.len(), LISTED + 1);
        assert_eq!(lines[0], "problem 0");
        assert_eq!(lines[LISTED - 1], format!("problem {}", LISTED - 1));
        assert_eq!(lines[LISTED], "… and 7 more");
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(json.as_array().unwrap().len(), LISTED + 1);
        assert_eq!(json[LISTED], "… and 7 more");
    }

    #[test]
    fn a_short_list_is_named_in_full() {
        let mut p = Problems::default();
        p.push("one".into());
        p.push("two".into());
        assert_eq!(p.len(), 2);
        assert_eq!(serde_json::to_string(&p).unwrap(), r#"["one","two"]"#);
    }
}
