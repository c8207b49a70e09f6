//! Display names: self-chosen, so cleaned before anyone sees them, and marked when two members
//! choose the same one.
//!
//! A name comes from its owner only, inside an MLS application message the owner signs (see
//! [`super::app`]), so nobody can put words in another member's mouth; but the owner chooses
//! every character. Control characters would break the layout, and bidirectional overrides
//! (U+202E "RIGHT-TO-LEFT OVERRIDE" and friends) can make "Ada" render as someone else's name
//! or hide a suffix. Those go; so do invisible characters that make two names look equal
//! while they differ. What is left is trimmed, its runs of white space folded, and cut to
//! [`MAX_NAME_CHARS`].

/// The longest display name shown, in characters.
pub const MAX_NAME_CHARS: usize = 64;

/// Characters that change the direction of the text around them (Unicode bidi controls).
fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{061C}' // ARABIC LETTER MARK
            | '\u{200E}' | '\u{200F}' // LRM, RLM
            | '\u{202A}'..='\u{202E}' // LRE, RLE, PDF, LRO, RLO
            | '\u{2066}'..='\u{2069}' // LRI, RLI, FSI, PDI
    )
}

/// Characters that render as nothing (or as a line break) and would let two names look alike.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}' // SOFT HYPHEN
            | '\u{034F}' // COMBINING GRAPHEME JOINER
            | '\u{115F}' | '\u{1160}' | '\u{3164}' | '\u{FFA0}' // Hangul fillers
            | '\u{180E}' // MONGOLIAN VOWEL SEPARATOR
            | '\u{200B}'..='\u{200D}' // ZERO WIDTH SPACE, ZWNJ, ZWJ
            | '\u{2028}' | '\u{2029}' // LINE and PARAGRAPH SEPARATOR
            | '\u{2060}'..='\u{2064}' // WORD JOINER, invisible operators
            | '\u{206A}'..='\u{206F}' // deprecated format characters
            | '\u{FEFF}' // ZERO WIDTH NO-BREAK SPACE
            | '\u{FFF9}'..='\u{FFFB}' // interlinear annotation
            | '\u{E0000}'..='\u{E007F}' // tag characters
    )
}

/// Characters no member's text keeps, in names or in chat: control, bidi and invisible ones.
pub(crate) fn is_unshown(c: char) -> bool {
    c.is_control() || is_bidi_control(c) || is_invisible(c)
}

/// The name as members show it: control, bidi and invisible characters removed, white space
/// folded to single spaces and trimmed, at most [`MAX_NAME_CHARS`] characters. Empty if
/// nothing printable is left.
pub fn clean_name(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len().min(4 * MAX_NAME_CHARS));
    let mut chars = 0;
    let mut pending_space = false;
    for c in raw.chars() {
        if c.is_whitespace() {
            pending_space = !out.is_empty();
            continue;
        }
        if is_unshown(c) {
            continue;
        }
        let needed = usize::from(pending_space) + 1;
        if chars + needed > MAX_NAME_CHARS {
            break;
        }
        if pending_space {
            out.push(' ');
            chars += 1;
            pending_space = false;
        }
        out.push(c);
        chars += 1;
    }
    out
}

/// How two names compare for the "same name" marker: case-insensitively, after cleaning.
pub fn same_name(a: &str, b: &str) -> bool {
    !a.is_empty() && a.to_lowercase() == b.to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bidi_overrides_and_controls_are_removed() {
        // "Ada" followed by an override that would render the rest backwards.
        assert_eq!(clean_name("Ada\u{202E}nhoj"), "Adanhoj");
        assert_eq!(clean_name("\u{2067}Eve\u{2069}"), "Eve");
        assert_eq!(clean_name("Bob\u{0007}\u{0000}\u{001B}[31m"), "Bob[31m");
        assert_eq!(clean_name("A\u{200B}d\u{FEFF}a\u{E0041}"), "Ada");
    }

    #[test]
    fn white_space_is_folded_and_trimmed() {
        assert_eq!(clean_name("  Grace \t\n  Hopper  "), "Grace Hopper");
        assert_eq!(clean_name("\u{00A0}Zoë\u{3000}Ångström"), "Zoë Ångström");
        assert_eq!(clean_name("\u{202E}\u{200B} \n"), "");
    }

    #[test]
    fn long_names_are_cut_at_a_character_boundary() {
        let name = "é".repeat(100);
        let cleaned = clean_name(&name);
        assert_eq!(cleaned.chars().count(), MAX_NAME_CHARS);
        assert_eq!(clean_name(&format!("{} x", "a".repeat(63))), "a".repeat(63));
    }

    #[test]
    fn the_same_name_ignores_case_but_not_empty_names() {
        assert!(same_name("Ada Lovelace", "ada lovelace"));
        assert!(!same_name("Ada", "Ada L"));
        assert!(!same_name("", ""));
    }
}
