//! "Did you mean": the closest valid option to a misspelt one.

/// The candidate closest to `word`, if it is close enough to be a slip
/// (`timout`, `blockng`, `lokc`), not another word.
pub(crate) fn did_you_mean(word: &str, candidates: &[&'static str]) -> Option<&'static str> {
    let limit = match word.chars().count() {
        0..=2 => 0,
        3..=5 => 1,
        _ => 2,
    };
    candidates
        .iter()
        .map(|&candidate| (distance(word, candidate), candidate))
        .filter(|&(d, _)| d <= limit)
        .min_by_key(|&(d, _)| d)
        .map(|(_, candidate)| candidate)
}

/// Edits (insert, delete, substitute, swap two neighbours) turning `a` into `b`.
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // d[i][j]: distance between a[..i] and b[..j].
    let mut d = vec![vec![0; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let substitution = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + substitution);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::did_you_mean;

    const KEYS: &[&str] = &["lock", "timeout", "blocking", "returns_result", "crate"];

    #[test]
    fn slips_find_the_option_meant() {
        assert_eq!(did_you_mean("timout", KEYS), Some("timeout"));
        assert_eq!(did_you_mean("blockng", KEYS), Some("blocking"));
        assert_eq!(did_you_mean("lokc", KEYS), Some("lock"));
        assert_eq!(did_you_mean("lok", KEYS), Some("lock"));
        assert_eq!(did_you_mean("return_result", KEYS), Some("returns_result"));
        assert_eq!(did_you_mean("timeout", KEYS), Some("timeout"));
        // A swap of neighbours is one edit, at the start or the end.
        assert_eq!(did_you_mean("olck", KEYS), Some("lock"));
        assert_eq!(did_you_mean("craet", KEYS), Some("crate"));
    }

    #[test]
    fn other_words_find_nothing() {
        assert_eq!(did_you_mean("path", KEYS), None);
        assert_eq!(did_you_mean("wait", KEYS), None);
        assert_eq!(did_you_mean("ab", KEYS), None);
        // Two edits from `lock`: too far for a word of two letters, or of
        // four, to be a slip (and an insertion is an edit).
        assert_eq!(did_you_mean("lk", KEYS), None);
        assert_eq!(did_you_mean("loop", KEYS), None);
        // A swap and a substitution are two edits.
        assert_eq!(did_you_mean("xcok", KEYS), None);
    }
}
