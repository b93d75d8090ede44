//! Entity ids: UUIDv7 rendered as 32 lowercase hex characters.
//!
//! Version 7 ids sort by creation time, so a B-tree index on the id doubles as a creation-order
//! index and keyset pagination over `id` is stable. The 32-hex form is what MLflow clients
//! already expect for run ids.

/// A fresh, time-ordered id.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

const ADJECTIVES: &[&str] = &[
    "amber", "bold", "brave", "bright", "calm", "clever", "crisp", "daring", "eager", "fair",
    "gentle", "golden", "happy", "keen", "lively", "lucky", "merry", "nimble", "noble", "quick",
    "quiet", "rapid", "shiny", "silent", "smooth", "steady", "sunny", "swift", "tidy", "vivid",
    "warm", "wise",
];
const ANIMALS: &[&str] = &[
    "ant", "bat", "bear", "bee", "carp", "crane", "deer", "dove", "eagle", "elk", "finch", "fox",
    "frog", "gull", "hare", "hawk", "heron", "ibis", "jay", "koala", "lark", "lynx", "mole",
    "moth", "newt", "otter", "owl", "panda", "seal", "swan", "tern", "wolf",
];

/// A readable default run name derived from the run id, such as `brave-otter-42`
/// (MLflow users are used to named runs).
pub fn run_name(id: &str) -> String {
    let hash = id
        .bytes()
        .rev()
        .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
    let adjective = ADJECTIVES[(hash % ADJECTIVES.len() as u64) as usize];
    let animal = ANIMALS[((hash / 64) % ANIMALS.len() as u64) as usize];
    format!("{adjective}-{animal}-{}", (hash / 4096) % 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_32_hex_and_time_ordered() {
        let a = new_id();
        let b = new_id();
        assert_eq!(a.len(), 32);
        assert!(
            a.chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert!(a < b, "{a} should sort before {b}");
        assert_eq!(run_name(&a), run_name(&a), "names are stable per id");
        assert_eq!(run_name(&a).split('-').count(), 3);
    }
}
