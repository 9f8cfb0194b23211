//! Calendar dates as people write them, for dates of birth: parsing to one canonical form
//! and writing one date in the usual formats (so a known date of birth is found however the
//! text writes it).
//!
//! Ambiguity: `03/04/1985` is read month-first (US) unless the first number exceeds 12;
//! `03.04.1985` (dots) is read day-first, as in most of Europe.

/// A valid Gregorian date between 1900 and 2100.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Date {
    /// Year.
    pub year: u16,
    /// Month, 1–12.
    pub month: u8,
    /// Day of the month, from 1.
    pub day: u8,
}

const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

impl Date {
    /// The date if it exists.
    pub fn new(year: u16, month: u8, day: u8) -> Option<Date> {
        let leap =
            (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400);
        let days = match month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if leap => 29,
            2 => 28,
            _ => return None,
        };
        ((1900..=2100).contains(&year) && (1..=days).contains(&day)).then_some(Date {
            year,
            month,
            day,
        })
    }

    /// `YYYY-MM-DD`.
    pub fn iso(self) -> String {
        format!("{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }

    /// Parses one date written as `1985-03-14`, `03/14/1985`, `14.03.1985`, `3/14/85`,
    /// `March 14, 1985`, `Mar. 14th 1985`, `14 March 1985` or `14th of March, 1985`.
    pub fn parse(text: &str) -> Option<Date> {
        let text = text.trim();
        let parts: Vec<&str> = text
            .split(|c: char| c.is_whitespace() || c == ',' || c == '/' || c == '-' || c == '.')
            .filter(|p| !p.is_empty() && !p.eq_ignore_ascii_case("of"))
            .collect();
        let [a, b, c] = parts.as_slice() else {
            return None;
        };
        let dots = text.contains('.') && !text.chars().any(char::is_alphabetic);
        if let Some(m) = month_from_name(a) {
            return Date::new(year(c)?, m, day(b)?);
        }
        if let Some(m) = month_from_name(b) {
            return Date::new(year(c)?, m, day(a)?);
        }
        let (x, y, z) = (number(a)?, number(b)?, number(c)?);
        if a.len() == 4 {
            return Date::new(
                u16::try_from(x).ok()?,
                u8::try_from(y).ok()?,
                u8::try_from(z).ok()?,
            );
        }
        let year = year(c)?;
        let (x, y) = (u8::try_from(x).ok()?, u8::try_from(y).ok()?);
        if dots || x > 12 {
            Date::new(year, y, x)
        } else {
            Date::new(year, x, y)
        }
    }

    /// Regular-expression alternatives matching this date in the formats [`Date::parse`]
    /// reads (case-insensitive where words are involved).
    pub(crate) fn pattern(self) -> String {
        let Date { year, month, day } = self;
        let yy = year % 100;
        let m = format!("0?{month}");
        let d = format!("0?{day}");
        let y = format!("(?:{year}|{yy:02})");
        let name = MONTHS
            .get(usize::from(month.saturating_sub(1)))
            .copied()
            .unwrap_or("january");
        let short = name.get(..3).unwrap_or(name);
        let month_word = if name.len() > 3 {
            format!("(?:{name}|{short}\\.?)")
        } else {
            name.to_string()
        };
        let ord = "(?:st|nd|rd|th)?";
        format!(
            "(?:{year}[-/.]{m}[-/.]{d}|{m}[-/.]{d}[-/.]{y}|{d}[-/.]{m}[-/.]{y}\
             |(?i:{month_word})[ \\t]+{d}{ord},?[ \\t]+{year}\
             |{d}{ord}[ \\t]+(?i:of[ \\t]+)?(?i:{month_word}),?[ \\t]+{year})"
        )
    }
}

fn month_from_name(word: &str) -> Option<u8> {
    let lower = word.trim_end_matches('.').to_ascii_lowercase();
    if lower.len() < 3 {
        return None;
    }
    MONTHS.iter().zip(1u8..).find_map(|(name, n)| {
        let ok =
            *name == lower || name.get(..3) == Some(lower.as_str()) || (n == 9 && lower == "sept");
        ok.then_some(n)
    })
}

fn number(s: &str) -> Option<u32> {
    (!s.is_empty() && s.len() <= 4 && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

fn day(s: &str) -> Option<u8> {
    let digits = s.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let suffix = s
        .get(digits.len()..)
        .unwrap_or_default()
        .to_ascii_lowercase();
    if !matches!(suffix.as_str(), "" | "st" | "nd" | "rd" | "th") || digits.len() > 2 {
        return None;
    }
    u8::try_from(number(digits)?).ok()
}

fn year(s: &str) -> Option<u16> {
    let n = u16::try_from(number(s)?).ok()?;
    match s.len() {
        4 => Some(n),
        // Two-digit years: a date of birth in `30`–`99` is last century.
        2 if n >= 30 => Some(1900 + n),
        2 => Some(2000 + n),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_agree() {
        let want = Date::new(1985, 3, 14);
        for s in [
            "1985-03-14",
            "03/14/1985",
            "3/14/85",
            "14.03.1985",
            "14/03/1985",
            "March 14, 1985",
            "Mar. 14th 1985",
            "14 March 1985",
            "14th of March, 1985",
        ] {
            assert_eq!(Date::parse(s), want, "{s}");
        }
    }

    #[test]
    fn impossible_dates_are_refused() {
        for s in [
            "1985-02-30",
            "13/13/1985",
            "Marchy 14, 1985",
            "14 Mar",
            "00/10/1990",
        ] {
            assert_eq!(Date::parse(s), None, "{s}");
        }
        assert!(Date::new(2000, 2, 29).is_some());
        assert!(Date::new(1900, 2, 29).is_none());
    }

    #[test]
    fn pattern_matches_each_format() {
        let date = Date::new(1985, 3, 14).unwrap();
        let re = regex::Regex::new(&format!("^{}$", date.pattern())).unwrap();
        for s in [
            "1985-03-14",
            "03/14/1985",
            "3/14/85",
            "14.03.1985",
            "march 14, 1985",
            "Mar. 14th 1985",
            "14 MARCH 1985",
            "14th of March, 1985",
        ] {
            assert!(re.is_match(s), "{s}");
        }
    }
}
