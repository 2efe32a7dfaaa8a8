//! How names travel in a restore context: any byte sequence as one field of printable
//! UTF-8 text, with no tab, newline or other control byte in it.
//!
//! A byte is written as itself when it is part of valid UTF-8 and is neither a control
//! byte (0x00-0x1F, 0x7F), `\` nor `%`; a backslash is written `\\`; every other byte is
//! `\` and three octal digits (`\012` for a newline, `\351` for a Latin-1 `é`). A value
//! that is exactly `-` is written `\055`, because a lone `-` means "none". These are the
//! escapes of printf(1)'s format string (hence `%` too), so `printf "$field"` gives the
//! bytes back in a shell.

use anyhow::{Result, bail};

/// The field for `bytes`.
pub fn escape(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    escape_into(&mut out, bytes);
    out
}

/// Appends the field for `bytes` to `out`.
pub fn escape_into(out: &mut String, bytes: &[u8]) {
    if bytes == b"-" {
        out.push_str("\\055");
        return;
    }
    let mut rest = bytes;
    while !rest.is_empty() {
        let (valid, bad) = match std::str::from_utf8(rest) {
            Ok(s) => (s, &[][..]),
            Err(e) => {
                let (good, after) = rest.split_at(e.valid_up_to());
                let bad_len = e.error_len().unwrap_or(after.len());
                (
                    std::str::from_utf8(good).expect("checked valid"),
                    &after[..bad_len],
                )
            }
        };
        for c in valid.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '%' => octal(out, b'%'),
                c if c.is_ascii_control() => octal(out, c as u8),
                c => out.push(c),
            }
        }
        for &b in bad {
            octal(out, b);
        }
        rest = &rest[valid.len() + bad.len()..];
    }
}

fn octal(out: &mut String, b: u8) {
    out.push('\\');
    out.push(char::from(b'0' + (b >> 6)));
    out.push(char::from(b'0' + ((b >> 3) & 7)));
    out.push(char::from(b'0' + (b & 7)));
}

/// The bytes of a field written by [`escape`]; any other backslash sequence is an error.
pub fn unescape(field: &str) -> Result<Vec<u8>> {
    let s = field.as_bytes();
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] != b'\\' {
            out.push(s[i]);
            i += 1;
            continue;
        }
        if s.get(i + 1) == Some(&b'\\') {
            out.push(b'\\');
            i += 2;
            continue;
        }
        match s.get(i + 1..i + 4) {
            Some(&[a @ b'0'..=b'3', b @ b'0'..=b'7', c @ b'0'..=b'7']) => {
                out.push(((a - b'0') << 6) | ((b - b'0') << 3) | (c - b'0'));
                i += 4;
            }
            _ => bail!(
                "bad escape in {field:?}: write a backslash as \\\\ and a byte as \\ and three octal digits"
            ),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_hard_names_are_plain_text_and_come_back() {
        let cases: &[(&[u8], &str)] = &[
            (b"caf\xe9-latin1.txt", "caf\\351-latin1.txt"),
            (b"new\nline.txt", "new\\012line.txt"),
            (b"tab\there", "tab\\011here"),
            (b"back\\slash", "back\\\\slash"),
            (b"100%", "100\\045"),
            (b" leading space", " leading space"),
            ("ünïcödé 写真.jpg".as_bytes(), "ünïcödé 写真.jpg"),
            (b"-", "\\055"),
            (b"--", "--"),
            (b"cr\rdel\x7f", "cr\\015del\\177"),
        ];
        for (raw, field) in cases {
            assert_eq!(escape(raw), *field);
            assert_eq!(unescape(field).unwrap(), *raw);
        }
        let long = vec![b'n'; 255];
        assert_eq!(unescape(&escape(&long)).unwrap(), long);
    }

    #[test]
    fn a_stray_backslash_is_refused() {
        for bad in ["a\\", "a\\n", "\\400", "\\01", "\\x41"] {
            assert!(unescape(bad).is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn any_bytes_round_trip_through_one_field(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let field = escape(&bytes);
            prop_assert!(!field.bytes().any(|b| b.is_ascii_control()), "{field:?}");
            prop_assert!(field != "-");
            prop_assert_eq!(unescape(&field).unwrap(), bytes);
        }
    }
}
