//! Glob patterns for masking rules: `*` any run of characters, `?` one character, anything
//! else literal; matching ignores ASCII case, as unquoted SQL identifiers do.

/// A compiled glob.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pattern(Vec<char>);

impl Pattern {
    /// The pattern of `glob`.
    pub fn new(glob: &str) -> Self {
        Pattern(glob.chars().map(|c| c.to_ascii_lowercase()).collect())
    }

    /// Whether the pattern is `*` (matches everything).
    pub fn is_any(&self) -> bool {
        self.0 == ['*']
    }

    /// Whether `name` matches.
    pub fn matches(&self, name: &str) -> bool {
        let name: Vec<char> = name.chars().map(|c| c.to_ascii_lowercase()).collect();
        let (p, n) = (&self.0, &name);
        let (mut pi, mut ni) = (0, 0);
        let mut star: Option<(usize, usize)> = None;
        while ni < n.len() {
            match p.get(pi) {
                Some('*') => {
                    star = Some((pi, ni));
                    pi += 1;
                }
                Some(c) if *c == '?' || *c == n[ni] => {
                    pi += 1;
                    ni += 1;
                }
                _ => match star {
                    Some((sp, sn)) => {
                        pi = sp + 1;
                        ni = sn + 1;
                        star = Some((sp, sn + 1));
                    }
                    None => return false,
                },
            }
        }
        p[pi.min(p.len())..].iter().all(|c| *c == '*')
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_as_documented() {
        assert!(Pattern::new("*").matches("anything"));
        assert!(Pattern::new("people").matches("PEOPLE"));
        assert!(Pattern::new("*_email").matches("work_email"));
        assert!(Pattern::new("card?").matches("card1"));
        assert!(Pattern::new("p*e").matches("people"));
        assert!(!Pattern::new("people").matches("people2"));
        assert!(!Pattern::new("*_email").matches("email"));
        assert!(!Pattern::new("card?").matches("card"));
    }
}
