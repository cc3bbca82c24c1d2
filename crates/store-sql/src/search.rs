//! Message search queries in each database's own syntax, built from the words of
//! [`chatsync_core::ports::chat::search_terms`]: every word must match, the last also as a
//! prefix, because people search as they type. The words hold only letters and digits, so
//! the queries built here contain no operator a user wrote.

/// Where a snippet's matched words start and end (the web app splits on exactly these).
pub const MARK_START: &str = "<mark>";
/// See [`MARK_START`].
pub const MARK_END: &str = "</mark>";

/// An SQLite FTS5 `MATCH` expression: `"w1" "w2" "w3"*` (juxtaposition is AND).
pub fn fts5_match(terms: &[String]) -> String {
    let last = terms.len().saturating_sub(1);
    terms
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let quoted = format!("\"{}\"", t.replace('"', "\"\""));
            if i == last { quoted + "*" } else { quoted }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A PostgreSQL `to_tsquery` text: `w1 & w2 & w3:*`.
pub fn tsquery(terms: &[String]) -> String {
    let last = terms.len().saturating_sub(1);
    terms
        .iter()
        .enumerate()
        .map(|(i, t)| {
            // Letters and digits only already; keep it so even if a caller forgets.
            let word: String = t.chars().filter(|c| c.is_alphanumeric()).collect();
            if i == last { word + ":*" } else { word }
        })
        .collect::<Vec<_>>()
        .join(" & ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &[&str]) -> Vec<String> {
        s.iter().map(|w| (*w).to_owned()).collect()
    }

    #[test]
    fn every_word_must_match_and_the_last_is_a_prefix() {
        assert_eq!(fts5_match(&words(&["deploy", "fri"])), r#""deploy" "fri"*"#);
        assert_eq!(tsquery(&words(&["deploy", "fri"])), "deploy & fri:*");
        assert_eq!(fts5_match(&words(&["café"])), r#""café"*"#);
        assert_eq!(tsquery(&words(&["a\"b&c"])), "abc:*");
        assert_eq!(fts5_match(&words(&["a\"b"])), r#""a""b"*"#);
    }
}
