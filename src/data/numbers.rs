//! Numbers written for people, as spreadsheets export them: thousands separators (`12,345.67`) and
//! decimal commas (`-0,123`, `1.234,5`: most of Europe, usually in `;`-separated files). A delimited
//! file's reader infers such columns as text; strata reads them as numbers when every cell of the column
//! is one in the file's notation, and says so.

/// How a file writes its numbers: the decimal mark and the thousands separator, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Notation {
    pub decimal: u8,
    pub thousands: Option<u8>,
}

impl Notation {
    /// `12,345.67`.
    pub const POINT: Notation = Notation {
        decimal: b'.',
        thousands: Some(b','),
    };
    /// `12.345,67`.
    pub const COMMA: Notation = Notation {
        decimal: b',',
        thousands: Some(b'.'),
    };

    /// The value of `cell` in this notation: an optional sign, digits (in groups of three after the
    /// first when separated), an optional fraction after the decimal mark and an optional exponent
    /// (ungrouped numbers only). None when the cell is not such a number.
    pub fn parse(&self, cell: &str) -> Option<f64> {
        let s = cell.trim();
        let (sign, body) = match s.as_bytes().first()? {
            b'-' => ("-", &s[1..]),
            b'+' => ("", &s[1..]),
            _ => ("", s),
        };
        let (mantissa, exponent) = match body.find(['e', 'E']) {
            Some(i) => (&body[..i], Some(&body[i + 1..])),
            None => (body, None),
        };
        let (int, frac) = match mantissa.split_once(self.decimal as char) {
            Some((i, f)) => (i, Some(f)),
            None => (mantissa, None),
        };
        let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
        if frac.is_some_and(|f| !digits(f)) || (int.is_empty() && frac.is_none()) {
            return None;
        }
        let grouped = match self.thousands {
            Some(t) if int.contains(t as char) => {
                let mut groups = int.split(t as char);
                let first = groups.next().unwrap_or_default();
                // `0.123` is not a grouped 123: a first group has no leading zero.
                let ok = digits(first)
                    && first.len() <= 3
                    && !first.starts_with('0')
                    && groups.all(|g| g.len() == 3 && digits(g));
                if !ok || exponent.is_some() {
                    return None;
                }
                true
            }
            _ => {
                if !int.is_empty() && !digits(int) {
                    return None;
                }
                false
            }
        };
        let int: String = if grouped {
            int.chars()
                .filter(|&c| c != self.thousands.unwrap_or(0) as char)
                .collect()
        } else {
            int.to_string()
        };
        let mut text = format!("{sign}{}", if int.is_empty() { "0" } else { &int });
        if let Some(f) = frac {
            text = format!("{text}.{f}");
        }
        if let Some(e) = exponent {
            let e = e.strip_prefix('+').unwrap_or(e);
            let (neg, ds) = e.strip_prefix('-').map_or((false, e), |d| (true, d));
            if !digits(ds) {
                return None;
            }
            text = format!("{text}e{}{ds}", if neg { "-" } else { "" });
        }
        text.parse().ok()
    }

    /// In words, for the log and the summary: `decimal ',' and thousands '.'`.
    pub fn describe(&self) -> String {
        let sep = match self.thousands {
            Some(b' ') => " and thousands ' '".to_string(),
            Some(t) => format!(" and thousands '{}'", t as char),
            None => String::new(),
        };
        format!("decimal '{}'{sep}", self.decimal as char)
    }

    /// The notations to try on a file, in order: the given ones, else those its delimiter allows (a
    /// `,`-delimited file writes decimal points; other delimiters are how decimal-comma locales export,
    /// so the comma is tried first and an ambiguous `12,345` reads as 12.345 there).
    pub fn candidates(
        decimal: Option<u8>,
        thousands: Option<Option<u8>>,
        delimiter: u8,
    ) -> Vec<Notation> {
        let default_sep = |d: u8| match d {
            b',' => Some(b'.'),
            b'.' => Some(b','),
            _ => None,
        };
        let decimals: Vec<u8> = match (decimal, thousands) {
            (Some(d), _) => vec![d],
            (None, Some(Some(b','))) => vec![b'.'],
            (None, Some(Some(b'.'))) => vec![b','],
            _ if delimiter == b',' => vec![b'.'],
            _ => vec![b',', b'.'],
        };
        decimals
            .into_iter()
            .map(|d| Notation {
                decimal: d,
                thousands: thousands.unwrap_or_else(|| default_sep(d)),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_notation_and_refuses_what_it_is_not() {
        let p = Notation::POINT;
        for (cell, v) in [
            ("12,345", 12345.0),
            ("-1,234,567.25", -1234567.25),
            (" 999 ", 999.0),
            ("0.5", 0.5),
            (".5", 0.5),
            ("1e3", 1000.0),
            ("+7", 7.0),
        ] {
            assert_eq!(p.parse(cell), Some(v), "{cell}");
        }
        for cell in [
            "12,34", "1,2345", ",123", "0,123", "1.2.3", "abc", "", "-", "1,234e5", "12,345.", "1e",
        ] {
            assert_eq!(p.parse(cell), None, "{cell}");
        }
        let c = Notation::COMMA;
        for (cell, v) in [
            ("-0,123", -0.123),
            ("1.234,5", 1234.5),
            ("12.345", 12345.0),
            ("12,345", 12.345),
            ("7", 7.0),
        ] {
            assert_eq!(c.parse(cell), Some(v), "{cell}");
        }
        for cell in ["1.5", "0.123", "1,2,3", "1.23,4"] {
            assert_eq!(c.parse(cell), None, "{cell}");
        }
    }

    #[test]
    fn candidates_follow_the_options_then_the_delimiter() {
        assert_eq!(Notation::candidates(None, None, b','), [Notation::POINT]);
        assert_eq!(
            Notation::candidates(None, None, b';'),
            [Notation::COMMA, Notation::POINT]
        );
        assert_eq!(
            Notation::candidates(Some(b','), None, b','),
            [Notation::COMMA]
        );
        let plain_comma = Notation {
            decimal: b',',
            thousands: None,
        };
        assert_eq!(
            Notation::candidates(Some(b','), Some(None), b';'),
            [plain_comma]
        );
        assert_eq!(
            Notation::candidates(None, Some(Some(b',')), b';'),
            [Notation::POINT]
        );
    }
}
