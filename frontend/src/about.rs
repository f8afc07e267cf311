//! An example lab's own words: the comment at the top of its file, split
//! into what the lab is and what to expect of it (from the line that starts
//! with "Expected").

/// What the app shows of an example beside the canvas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct About {
    pub what: String,
    /// From the "Expected…" line on; `None` when the file says nothing of it.
    pub expected: Option<String>,
}

/// The leading `#` lines of `text`, joined into sentences.
pub fn about(text: &str) -> About {
    let lines = text
        .lines()
        .map_while(|l| l.strip_prefix('#'))
        .map(|l| l.trim());
    let (mut what, mut expected) = (Vec::new(), Vec::new());
    for l in lines {
        if !expected.is_empty() || l.starts_with("Expected") {
            expected.push(l);
        } else {
            what.push(l);
        }
    }
    About {
        what: what.join(" "),
        expected: (!expected.is_empty()).then(|| expected.join(" ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_splits_at_expected() {
        let a = about("# A lab: two hosts\n# and a tunnel.\n# Expected: vm1 reaches\n# vm3.\nversion: 1\n# not this\n");
        assert_eq!(a.what, "A lab: two hosts and a tunnel.");
        assert_eq!(a.expected.as_deref(), Some("Expected: vm1 reaches vm3."));
        let none = about("version: 1\n");
        assert_eq!((none.what.as_str(), none.expected), ("", None));
    }

    #[test]
    fn every_example_says_what_it_is_and_what_to_expect() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
        let mut n = 0;
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "yaml") {
                let a = about(&std::fs::read_to_string(&p).unwrap());
                assert!(!a.what.is_empty(), "{p:?}: no description");
                assert!(a.expected.is_some(), "{p:?}: no expected result");
                n += 1;
            }
        }
        assert!(n >= 4);
    }
}
