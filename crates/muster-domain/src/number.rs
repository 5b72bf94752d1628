//! Numbers as offices type them into forms and spreadsheets: one reading for every place
//! that takes a number from outside, so that "1,200" is twelve hundred everywhere and
//! "1,5" (a decimal comma, or a slip) is refused everywhere rather than read as 15.

/// Number text as offices type it, made parseable: trimmed, full-width digits and signs
/// (from a Chinese input method) made ASCII, and thousands separators ("1,200") removed when
/// they group correctly. Commas that do not group digits in threes make the text unreadable
/// rather than being guessed at.
pub(crate) fn normalize_number(text: &str) -> Option<String> {
    let ascii: String = text
        .trim()
        .chars()
        .map(|c| match c {
            '０'..='９' => char::from_digit(u32::from(c) - u32::from('０'), 10).unwrap_or(c),
            '．' => '.',
            '，' => ',',
            '－' | '−' => '-',
            '＋' => '+',
            other => other,
        })
        .collect();
    if !ascii.contains(',') {
        return Some(ascii);
    }
    let unsigned = ascii.trim_start_matches(['-', '+']);
    let whole = unsigned.split('.').next().unwrap_or_default();
    let mut groups = whole.split(',');
    let first_ok = groups
        .next()
        .is_some_and(|g| (1..=3).contains(&g.len()) && g.bytes().all(|b| b.is_ascii_digit()));
    let rest_ok = groups.all(|g| g.len() == 3 && g.bytes().all(|b| b.is_ascii_digit()));
    let fraction_ok = !unsigned.split('.').skip(1).any(|part| part.contains(','));
    (first_ok && rest_ok && fraction_ok).then(|| ascii.replace(',', ""))
}

/// A finite decimal number as typed ("1,200", "12.5", full-width "１２"); `None` when the
/// text is not one. Negative numbers read as negative: the caller checks its own bounds.
pub fn read_decimal(text: &str) -> Option<f64> {
    let trimmed = text.trim();
    // Nearly every cell is plain ASCII with no separator, which normalising would copy
    // unchanged: read it where it is (a million-row import reads a million of them).
    let number = if trimmed.bytes().all(|b| b.is_ascii() && b != b',') {
        trimmed.parse::<f64>().ok()
    } else {
        normalize_number(text)?.parse::<f64>().ok()
    };
    number.filter(|n| n.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_separators_must_group_in_threes() {
        assert_eq!(read_decimal("1,200"), Some(1200.0));
        assert_eq!(read_decimal("1,200,000.5"), Some(1_200_000.5));
        assert_eq!(read_decimal("１，２００"), Some(1200.0));
        assert_eq!(read_decimal(" -3.5 "), Some(-3.5));
        assert_eq!(read_decimal("1,5"), None);
        assert_eq!(read_decimal("12,00"), None);
        assert_eq!(read_decimal("1.5,0"), None);
        assert_eq!(read_decimal(",100"), None);
        assert_eq!(read_decimal("+1,200"), Some(1200.0));
        assert_eq!(read_decimal("-1,5"), None);
        assert_eq!(read_decimal("1,200."), Some(1200.0));
        assert_eq!(read_decimal("inf"), None);
        assert_eq!(read_decimal("NaN"), None);
        assert_eq!(read_decimal(""), None);
    }
}
