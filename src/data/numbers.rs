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
    #[cfg(test)]
    pub const POINT: Notation = Notation {
        decimal: b'.',
        thousands: Some(b','),
    };
    /// `12.345,67`.
    #[cfg(test)]
    pub const COMMA: Notation = Notation {
        decimal: b',',
        thousands: Some(b'.'),
    };

    /// The value of `cell` in this notation: an optional sign, digits (in groups of three after a first
    /// group of one to three without a leading zero, when separated), an optional fraction after the
    /// decimal mark and an optional exponent (ungrouped numbers only). None when the cell is not such a
    /// number. The cell is rewritten into a stack buffer as Rust writes the number, then parsed: no
    /// allocation, since every cell of a column goes through here.
    pub fn parse(&self, cell: &str) -> Option<f64> {
        let mut s = cell.trim().as_bytes();
        let mut buf = [0u8; 64];
        let mut n = 0;
        let mut push = |b: u8| -> Option<()> {
            *buf.get_mut(n)? = b;
            n += 1;
            Some(())
        };
        match s.first()? {
            b'-' => {
                push(b'-')?;
                s = &s[1..];
            }
            b'+' => s = &s[1..],
            _ => {}
        }
        // The integer part: `group` digits since the last separator; `first` the first group's length.
        let (mut digits, mut group, mut first) = (0usize, 0usize, None::<usize>);
        let mut i = 0;
        while let Some(&b) = s.get(i) {
            if b.is_ascii_digit() {
                push(b)?;
                (digits, group) = (digits + 1, group + 1);
            } else if Some(b) == self.thousands {
                match first {
                    None if (1..=3).contains(&group) && s[0] != b'0' => first = Some(group),
                    Some(_) if group == 3 => {}
                    _ => return None,
                }
                group = 0;
            } else {
                break;
            }
            i += 1;
        }
        if first.is_some() && group != 3 {
            return None;
        }
        let mut fraction = 0;
        if s.get(i) == Some(&self.decimal) {
            push(b'.')?;
            i += 1;
            while let Some(&b) = s.get(i).filter(|b| b.is_ascii_digit()) {
                push(b)?;
                (fraction, i) = (fraction + 1, i + 1);
            }
            if fraction == 0 {
                return None;
            }
        }
        if digits + fraction == 0 {
            return None;
        }
        if matches!(s.get(i), Some(b'e' | b'E')) {
            if first.is_some() {
                return None;
            }
            push(b'e')?;
            i += 1;
            if let Some(&b) = s.get(i).filter(|&&b| b == b'-' || b == b'+') {
                push(b)?;
                i += 1;
            }
            let start = i;
            while let Some(&b) = s.get(i).filter(|b| b.is_ascii_digit()) {
                push(b)?;
                i += 1;
            }
            if i == start {
                return None;
            }
        }
        if i != s.len() {
            return None;
        }
        std::str::from_utf8(&buf[..n]).ok()?.parse().ok()
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
