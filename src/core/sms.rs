//! SMS segments, the unit carriers (and Twilio) charge by.
//!
//! A message that fits the GSM-7 alphabet is sent in 7-bit septets: 160 in a
//! single segment, 153 per segment once split (the rest is the concatenation
//! header). One character outside GSM-7 switches the whole message to UCS-2:
//! 70 UTF-16 units in one segment, 67 per split segment. Characters of the
//! GSM-7 extension table take two septets, and a split never separates the
//! two halves of an escape or of a surrogate pair.

/// The GSM 03.38 basic character set.
const GSM7_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
/// The extension table: each costs an escape plus itself.
const GSM7_EXTENDED: &str = "^{}\\[~]|€\u{000C}";

/// Twilio refuses longer bodies.
pub const MAX_BODY_CHARS: usize = 1600;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Gsm7,
    Ucs2,
}

/// Units a character takes in its encoding, or `None` if it is not GSM-7.
fn gsm7_units(c: char) -> Option<usize> {
    if GSM7_BASIC.contains(c) {
        Some(1)
    } else if GSM7_EXTENDED.contains(c) {
        Some(2)
    } else {
        None
    }
}

pub fn encoding(body: &str) -> Encoding {
    if body.chars().all(|c| gsm7_units(c).is_some()) {
        Encoding::Gsm7
    } else {
        Encoding::Ucs2
    }
}

/// The number of segments a body is sent in (an empty body is one).
pub fn segments(body: &str) -> u64 {
    let (single, split, units): (usize, usize, Box<dyn Fn(char) -> usize>) = match encoding(body) {
        Encoding::Gsm7 => (160, 153, Box::new(|c| gsm7_units(c).unwrap_or(1))),
        Encoding::Ucs2 => (70, 67, Box::new(|c: char| c.len_utf16())),
    };
    let total: usize = body.chars().map(&units).sum();
    if total <= single {
        return 1;
    }
    let (mut count, mut used) = (1, 0);
    for c in body.chars() {
        let u = units(c);
        if used + u > split {
            count += 1;
            used = 0;
        }
        used += u;
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gsm7_fits_160_then_153_per_segment() {
        assert_eq!(segments(""), 1);
        assert_eq!(segments(&"a".repeat(160)), 1);
        assert_eq!(segments(&"a".repeat(161)), 2);
        assert_eq!(segments(&"a".repeat(306)), 2);
        assert_eq!(segments(&"a".repeat(307)), 3);
        assert_eq!(encoding("Hello @ £5 Ä"), Encoding::Gsm7);
    }

    #[test]
    fn extension_characters_count_double_and_are_not_split() {
        assert_eq!(segments(&"€".repeat(80)), 1);
        assert_eq!(segments(&"€".repeat(81)), 2);
        // 152 plain + one escape pair: the pair does not fit in 153.
        let edge = format!("{}{}{}", "a".repeat(152), "{", "a".repeat(10));
        assert_eq!(encoding(&edge), Encoding::Gsm7);
        assert_eq!(segments(&edge), 2);
        let pushed = format!("{}{}", "a".repeat(152), "{".repeat(77));
        // 152 + 2 > 153 → the brace opens segment 2; 77 braces = 154 septets → 3.
        assert_eq!(segments(&pushed), 3);
    }

    #[test]
    fn one_non_gsm_character_switches_to_ucs2() {
        assert_eq!(encoding("Your code is 1234 ✅"), Encoding::Ucs2);
        assert_eq!(segments(&"é".repeat(160)), 1, "é is GSM-7");
        assert_eq!(segments(&format!("{}ê", "a".repeat(69))), 1);
        assert_eq!(segments(&format!("{}ê", "a".repeat(70))), 2);
        assert_eq!(segments(&"ж".repeat(134)), 2);
        assert_eq!(segments(&"ж".repeat(135)), 3);
    }

    #[test]
    fn surrogate_pairs_take_two_units() {
        assert_eq!(segments(&"😀".repeat(35)), 1);
        assert_eq!(segments(&"😀".repeat(36)), 2);
    }
}
