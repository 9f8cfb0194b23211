//! The cases, one file per category. Each case is a few lines of Python on top of the
//! prelude (`py/prelude.py`) that tries one thing and says `blocked(...)`, `breach(...)`
//! or (legitimate suite) `ok(...)`; the host judges too (`crate::lab`).

mod audit;
mod authority;
mod containment;
mod cross_task;
mod keys;
mod legitimate;
mod membrane;
mod persistence;
mod privacy;

use crate::attack::Attack;

/// Every case, by category.
pub fn all() -> Vec<Attack> {
    let mut out = Vec::new();
    out.extend(containment::cases());
    out.extend(keys::cases());
    out.extend(authority::cases());
    out.extend(privacy::cases());
    out.extend(membrane::cases());
    out.extend(audit::cases());
    out.extend(persistence::cases());
    out.extend(cross_task::cases());
    out.extend(legitimate::cases());
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::all;
    use crate::attack::Category;

    #[test]
    fn ids_are_unique_agent_names_and_the_suite_is_big_enough() {
        let cases = all();
        let mut seen = BTreeSet::new();
        for c in &cases {
            assert!(seen.insert(c.id), "duplicate id {}", c.id);
            assert!(
                !c.id.is_empty()
                    && c.id.len() <= 63
                    && c.id
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
                "{} is not an agent name",
                c.id
            );
            assert!(!c.code.trim().is_empty(), "{} has no code", c.id);
        }
        let legit = cases
            .iter()
            .filter(|c| c.category == Category::Legitimate)
            .count();
        assert!(legit >= 50, "only {legit} legitimate cases");
        assert!(
            cases.len() - legit >= 150,
            "only {} attacks",
            cases.len() - legit
        );
        for cat in Category::ALL {
            assert!(
                cases.iter().any(|c| c.category == cat),
                "no case in {}",
                cat.as_str()
            );
        }
    }
}
