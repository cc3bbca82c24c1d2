//! Checked input. A value of these types has passed validation, so the code holding one need
//! not check again (parse, don't validate).

use serde::{Deserialize, Serialize};
use std::fmt;

/// Why a piece of input was refused. The message is shown to the user as-is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct Invalid {
    /// The request field at fault, as the client named it.
    pub field: &'static str,
    /// What is wrong with it, in words a user understands.
    pub message: String,
}

impl Invalid {
    /// An error about `field`.
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

/// A syntactically valid email address, trimmed and lower-cased so that one mailbox has one
/// account whatever case it was typed in.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    /// Longest address accepted (RFC 5321's path limit).
    pub const MAX_LEN: usize = 254;

    /// Checks and normalises `raw`.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let s = raw.trim().to_lowercase();
        if s.is_empty() {
            return Err(Invalid::new("email", "is required"));
        }
        if s.len() > Self::MAX_LEN {
            return Err(Invalid::new("email", "is too long"));
        }
        // `email_address` accepts quoted local parts and IP literals; a chat product does not
        // need those, and refusing them keeps addresses safe to put in mail headers and logs.
        let plain = s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "@.!#$%&'*+/=?^_`{|}~-".contains(c));
        let (_, domain) = s.rsplit_once('@').unwrap_or(("", ""));
        if !plain || !domain.contains('.') || !email_address::EmailAddress::is_valid(&s) {
            return Err(Invalid::new("email", "is not a valid email address"));
        }
        Ok(Self(s))
    }

    /// The normalised address.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Builds from a value that was validated before it was stored.
    pub fn from_trusted(s: String) -> Self {
        Self(s)
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A password that meets the length policy. Its `Debug` never shows it.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    /// Shortest password accepted.
    pub const MIN_CHARS: usize = 8;
    /// Longest accepted; argon2 cost grows with the input and nobody types more.
    pub const MAX_CHARS: usize = 256;

    /// Checks the length policy.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let n = raw.chars().count();
        if n < Self::MIN_CHARS {
            return Err(Invalid::new(
                "password",
                format!("must be at least {} characters", Self::MIN_CHARS),
            ));
        }
        if n > Self::MAX_CHARS {
            return Err(Invalid::new(
                "password",
                format!("must be at most {} characters", Self::MAX_CHARS),
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The secret itself, for hashing.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

/// Trims `raw` and checks it holds 1..=`max` characters with no control characters.
fn short_text(field: &'static str, raw: &str, max: usize) -> Result<String, Invalid> {
    let s = raw.trim();
    if s.is_empty() {
        return Err(Invalid::new(field, "is required"));
    }
    if s.chars().count() > max {
        return Err(Invalid::new(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if s.chars().any(char::is_control) {
        return Err(Invalid::new(field, "must not contain control characters"));
    }
    Ok(s.to_owned())
}

/// Characters that change how the text around them is shown without showing themselves:
/// bidirectional embeddings, overrides, isolates and marks (a name could display reversed,
/// or reverse the words after it in a list), and zero-width or blank characters (two names
/// that look the same would be different people). Joiners are handled apart, in
/// [`misplaced_joiner`].
fn is_hidden_or_bidi(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'                    // soft hyphen
            | '\u{034F}'              // combining grapheme joiner
            | '\u{061C}'              // Arabic letter mark
            | '\u{115F}' | '\u{1160}' // Hangul fillers
            | '\u{17B4}' | '\u{17B5}' // Khmer inherent vowels (invisible)
            | '\u{180B}'..='\u{180F}' // Mongolian variation selectors and vowel separator
            | '\u{200B}'              // zero-width space
            | '\u{200E}' | '\u{200F}' // left-to-right and right-to-left marks
            | '\u{202A}'..='\u{202E}' // embeddings and overrides
            | '\u{2060}'..='\u{206F}' // word joiner, invisible operators, isolates, deprecated
            | '\u{3164}'              // Hangul filler
            | '\u{FEFF}'              // zero-width no-break space
            | '\u{FFA0}'              // halfwidth Hangul filler
            | '\u{FFF9}'..='\u{FFFB}' // interlinear annotation
            | '\u{1D173}'..='\u{1D17A}' // musical formatting
            | '\u{E0000}'..='\u{E007F}' // tags
    )
}

/// True when `s` has a zero-width joiner or non-joiner (U+200D, U+200C) that is not between
/// two visible non-ASCII characters. Between those they do real work (emoji sequences such as
/// a family, conjuncts in Indic scripts, word forms in Persian); next to ASCII or a space they
/// only make a name that looks like another one.
fn misplaced_joiner(s: &str) -> bool {
    let chars: Vec<char> = s.chars().collect();
    let visible_non_ascii =
        |c: Option<&char>| c.is_some_and(|c| !c.is_ascii() && !c.is_whitespace() && !is_joiner(*c));
    chars.iter().enumerate().any(|(i, c)| {
        is_joiner(*c)
            && !(i > 0
                && visible_non_ascii(chars.get(i - 1))
                && visible_non_ascii(chars.get(i + 1)))
    })
}

fn is_joiner(c: char) -> bool {
    c == '\u{200C}' || c == '\u{200D}'
}

/// A person's shown name: 1 to 64 characters after trimming, with nothing invisible in it
/// (no bidirectional controls, no zero-width characters except joiners inside emoji and
/// scripts that need them), so a name always shows what it is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DisplayName(String);

impl DisplayName {
    /// Longest name accepted (SPEC §6).
    pub const MAX_CHARS: usize = 64;

    /// Checks and trims `raw`. Hidden characters are refused rather than removed, so the name
    /// stored is exactly the name the person typed and saw.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let s = short_text("display_name", raw, Self::MAX_CHARS)?;
        if s.chars().any(is_hidden_or_bidi) || misplaced_joiner(&s) {
            return Err(Invalid::new(
                "display_name",
                "must not contain invisible or text-direction control characters",
            ));
        }
        Ok(Self(s))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Consumes into the inner string.
    pub fn into_inner(self) -> String {
        self.0
    }
}

/// A group conversation's name: 1 to 100 characters after trimming.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ConversationName(String);

impl ConversationName {
    /// Longest name accepted.
    pub const MAX_CHARS: usize = 100;

    /// Checks and trims `raw`.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        short_text("name", raw, Self::MAX_CHARS).map(Self)
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A message body: at most 4,000 characters (SPEC §6). It may be empty only when the message
/// carries attachments, which the caller checks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MessageBody(String);

impl MessageBody {
    /// Longest body accepted, in characters.
    pub const MAX_CHARS: usize = 4000;

    /// Checks the length of `raw`; leading and trailing blank lines are kept as typed.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        if raw.chars().count() > Self::MAX_CHARS {
            return Err(Invalid::new(
                "body",
                format!("must be at most {} characters", Self::MAX_CHARS),
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// True when there is nothing but white space.
    pub fn is_blank(&self) -> bool {
        self.0.trim().is_empty()
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Consumes into the inner string.
    pub fn into_inner(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            Email::parse(" Alice@Example.COM ").unwrap().as_str(),
            "alice@example.com"
        );
        for bad in [
            "",
            "alice",
            "alice@",
            "@example.com",
            "a b@example.com",
            "alice@localhost",
            "\"a\"@x.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be refused");
        }
        assert!(Email::parse(&format!("{}@example.com", "a".repeat(250))).is_err());
    }

    #[test]
    fn passwords_need_eight_to_256_characters() {
        assert!(Password::parse("short").is_err());
        assert!(Password::parse("long enough").is_ok());
        assert!(Password::parse(&"x".repeat(257)).is_err());
        assert_eq!(
            format!("{:?}", Password::parse("secret123").unwrap()),
            "Password(***)"
        );
    }

    #[test]
    fn display_names_are_trimmed_and_bounded() {
        assert_eq!(DisplayName::parse("  Ann  ").unwrap().as_str(), "Ann");
        assert!(DisplayName::parse("   ").is_err());
        assert!(DisplayName::parse(&"é".repeat(64)).is_ok());
        assert!(DisplayName::parse(&"é".repeat(65)).is_err());
        assert!(DisplayName::parse("a\u{0}b").is_err());
    }

    #[test]
    fn display_names_refuse_direction_controls_and_hidden_characters() {
        for bad in [
            "Ann\u{202E}gnp.exe",   // right-to-left override
            "\u{202D}Ann",          // left-to-right override
            "Ann\u{2067}x\u{2069}", // isolates
            "An\u{200B}n",          // zero-width space
            "Ann\u{200F}",          // right-to-left mark
            "\u{FEFF}Ann",          // byte-order mark
            "A\u{2060}nn",          // word joiner
            "An\u{200D}n",          // joiner between ASCII letters
            "Ann \u{200C}Lee",      // non-joiner after a space
            "\u{200D}",             // nothing but a joiner
            "Ann\u{00AD}",          // soft hyphen
            "\u{3164}",             // Hangul filler
        ] {
            let e = DisplayName::parse(bad).expect_err(bad);
            assert_eq!(e.field, "display_name");
            assert!(e.message.contains("invisible"), "{bad:?}: {e}");
        }
    }

    #[test]
    fn display_names_keep_joiners_that_emoji_and_scripts_need() {
        for good in [
            "Family \u{1F468}\u{200D}\u{1F469}\u{200D}\u{1F467}", // 👨‍👩‍👧
            "\u{0915}\u{094D}\u{200D}\u{0937}",                   // Devanagari with ZWJ
            "\u{0645}\u{06CC}\u{200C}\u{062E}\u{0648}\u{0627}\u{0645}", // Persian with ZWNJ
            "\u{05D0}\u{05D1}\u{05D2} Cohen",                     // Hebrew, no controls
            "Zo\u{00EB} \u{2764}\u{FE0F}",                        // emoji presentation selector
        ] {
            assert_eq!(DisplayName::parse(good).unwrap().as_str(), good);
        }
    }

    mod properties {
        use super::super::*;
        use proptest::prelude::*;

        /// Names built from any characters, with hidden ones mixed in on purpose.
        fn name() -> impl Strategy<Value = String> {
            let hidden = prop::sample::select(vec![
                '\u{200B}', '\u{200C}', '\u{200D}', '\u{200E}', '\u{200F}', '\u{202A}', '\u{202E}',
                '\u{2066}', '\u{2069}', '\u{FEFF}', '\u{2060}', '\u{061C}',
            ]);
            prop::collection::vec(prop_oneof![4 => any::<char>(), 1 => hidden], 0..80)
                .prop_map(|v| v.into_iter().collect())
        }

        proptest! {
            #[test]
            fn an_accepted_name_is_trimmed_bounded_and_shows_what_it_is(raw in name()) {
                if let Ok(n) = DisplayName::parse(&raw) {
                    let s = n.as_str();
                    prop_assert_eq!(s, s.trim());
                    prop_assert!((1..=DisplayName::MAX_CHARS).contains(&s.chars().count()));
                    prop_assert!(!s.chars().any(|c| c.is_control() || is_hidden_or_bidi(c)));
                    prop_assert!(!misplaced_joiner(s));
                    // Parsing is idempotent: a stored name passes again unchanged.
                    let again = DisplayName::parse(s).unwrap();
                    prop_assert_eq!(again.as_str(), s);
                }
            }

            #[test]
            fn a_direction_override_anywhere_is_refused(
                a in "[a-zA-Z ]{0,20}",
                b in "[a-zA-Z ]{0,20}",
                c in prop::sample::select(vec!['\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}', '\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}']),
            ) {
                let raw = format!("{a}{c}{b}x");
                prop_assert!(DisplayName::parse(&raw).is_err());
            }
        }
    }

    #[test]
    fn message_bodies_count_characters_not_bytes() {
        assert!(MessageBody::parse(&"ü".repeat(4000)).is_ok());
        assert!(MessageBody::parse(&"a".repeat(4001)).is_err());
        assert!(MessageBody::parse(" \n").unwrap().is_blank());
    }
}
