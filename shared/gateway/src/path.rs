//! The one normalisation of a request path. The gateway routes, authorizes and forwards the
//! normalised path and nothing else, so no later parser (the URL library of the upstream
//! client, the upstream's router, a CGI gateway) can read the path differently from the
//! scope rules that let it through.
//!
//! Anything another parser could resolve into a different path is refused rather than
//! resolved: dot segments, encoded dots, encoded or raw slashes other than separators,
//! backslashes, NUL and empty interior segments. What is left is put in one canonical form
//! (RFC 3986 §6.2.2): percent-encoded unreserved characters decoded, every other escape in
//! upper-case hex, and every byte outside `pchar` percent-encoded, so a URL parser has
//! nothing left to re-encode.

/// Why a request path is refused (the gateway answers 400).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// Not an absolute path (`*`, an authority, or empty).
    #[error("the path must start with /")]
    NotAbsolute,
    /// `%` not followed by two hex digits.
    #[error("the path has a malformed percent-encoding")]
    BadEscape,
    /// `%2F`: a slash that some parsers treat as a separator and others do not.
    #[error("the path has an encoded slash")]
    EncodedSlash,
    /// A raw or encoded backslash, which URL parsers and some servers read as `/`.
    #[error("the path has a backslash")]
    Backslash,
    /// `%2E`: a dot that some parsers decode before resolving dot segments.
    #[error("the path has an encoded dot")]
    EncodedDot,
    /// A `.` or `..` segment (also with `;` parameters, which servlet containers drop).
    #[error("the path has a dot segment")]
    DotSegment,
    /// A raw or encoded NUL, which truncates the path in C-based servers.
    #[error("the path has a NUL byte")]
    Nul,
    /// `//`: an empty segment that some routers collapse and others keep.
    #[error("the path has an empty segment")]
    EmptySegment,
}

/// Normalises a request path (without query), or says why it is refused.
pub fn normalise(raw: &str) -> Result<String, PathError> {
    let bytes = raw.as_bytes();
    if bytes.first() != Some(&b'/') {
        return Err(PathError::NotAbsolute);
    }
    let mut out = String::with_capacity(raw.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let value = match (bytes.get(i + 1), bytes.get(i + 2)) {
                (Some(&hi), Some(&lo)) => hex(hi)
                    .zip(hex(lo))
                    .map(|(hi, lo)| hi << 4 | lo)
                    .ok_or(PathError::BadEscape)?,
                _ => return Err(PathError::BadEscape),
            };
            match value {
                b'/' => return Err(PathError::EncodedSlash),
                b'\\' => return Err(PathError::Backslash),
                b'.' => return Err(PathError::EncodedDot),
                0 => return Err(PathError::Nul),
                v if is_unreserved(v) => out.push(char::from(v)),
                v => push_escape(&mut out, v),
            }
            i += 3;
            continue;
        }
        match b {
            b'\\' => return Err(PathError::Backslash),
            0 => return Err(PathError::Nul),
            b'/' => out.push('/'),
            b if is_pchar(b) => out.push(char::from(b)),
            b => push_escape(&mut out, b),
        }
        i += 1;
    }
    check_segments(&out)?;
    Ok(out)
}

/// The form a case-insensitive upstream may read a normalised path as: ASCII letters in
/// lower case, escapes kept in upper-case hex (they name bytes, not letters).
pub fn case_folded(normalised: &str) -> String {
    let mut out = String::with_capacity(normalised.len());
    let mut escape = 0;
    for c in normalised.chars() {
        if c == '%' {
            escape = 2;
            out.push(c);
        } else if escape > 0 {
            escape -= 1;
            out.push(c);
        } else {
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

fn check_segments(path: &str) -> Result<(), PathError> {
    // The leading `/` starts the first segment; only the last may be empty (a trailing `/`).
    let mut segments = path.strip_prefix('/').unwrap_or(path).split('/').peekable();
    while let Some(segment) = segments.next() {
        let last = segments.peek().is_none();
        if segment.is_empty() && !last {
            return Err(PathError::EmptySegment);
        }
        let bare = segment.split(';').next().unwrap_or_default();
        if bare == "." || bare == ".." {
            return Err(PathError::DotSegment);
        }
    }
    Ok(())
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn push_escape(out: &mut String, b: u8) {
    use std::fmt::Write as _;
    // Writing to a String cannot fail.
    let _ = write!(out, "%{b:02X}");
}

/// RFC 3986 `unreserved`, without `.` (an encoded dot is refused, never decoded).
fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'~')
}

/// RFC 3986 `pchar` (less `%`, handled as escapes).
fn is_pchar(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.'
                | b'_'
                | b'~'
                | b'!'
                | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
                | b':'
                | b'@'
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_paths_pass_unchanged() {
        for path in [
            "/",
            "/me",
            "/orders/7",
            "/orders/7/",
            "/a.b/c..d/.e/f.",
            "/a;b=c/d:e@f!$&'()*+,=",
            "/auth/sessions/3q2-7wQ1x0a9bK1nZc4Y1w",
        ] {
            assert_eq!(normalise(path).as_deref(), Ok(path), "{path}");
        }
    }

    #[test]
    fn encoded_unreserved_characters_are_decoded_and_other_escapes_upper_cased() {
        assert_eq!(normalise("/%61dmin/users").as_deref(), Ok("/admin/users"));
        assert_eq!(normalise("/%41%7a%30%2d%5f%7E").as_deref(), Ok("/Az0-_~"));
        assert_eq!(
            normalise("/caf%c3%a9/%20x%3f%25").as_deref(),
            Ok("/caf%C3%A9/%20x%3F%25")
        );
    }

    #[test]
    fn bytes_outside_pchar_are_encoded_so_a_url_parser_keeps_the_path() {
        assert_eq!(
            normalise("/a{b}[c]|d^e\"f`g<h>").as_deref(),
            Ok("/a%7Bb%7D%5Bc%5D%7Cd%5Ee%22f%60g%3Ch%3E")
        );
        assert_eq!(normalise("/a b").as_deref(), Ok("/a%20b"));
        // The raw and the encoded form are one path.
        assert_eq!(normalise("/a{b"), normalise("/a%7bb"));
    }

    #[test]
    fn separators_that_parsers_read_differently_are_refused() {
        for (path, error) in [
            ("/a%2Fb", PathError::EncodedSlash),
            ("/a%2fb", PathError::EncodedSlash),
            ("/a%5Cb", PathError::Backslash),
            ("/a%5cb", PathError::Backslash),
            ("/a\\b", PathError::Backslash),
            ("/a%00b", PathError::Nul),
            ("/a\0b", PathError::Nul),
            ("/a//b", PathError::EmptySegment),
            ("//a", PathError::EmptySegment),
            ("//", PathError::EmptySegment),
            ("/a%2", PathError::BadEscape),
            ("/a%zz", PathError::BadEscape),
            ("/a%", PathError::BadEscape),
            ("*", PathError::NotAbsolute),
            ("", PathError::NotAbsolute),
            ("a/b", PathError::NotAbsolute),
        ] {
            assert_eq!(normalise(path), Err(error), "{path:?}");
        }
    }

    #[test]
    fn dot_segments_and_encoded_dots_are_refused() {
        for (path, error) in [
            ("/x/../admin", PathError::DotSegment),
            ("/x/./admin", PathError::DotSegment),
            ("/x/..", PathError::DotSegment),
            ("/x/.", PathError::DotSegment),
            ("/..", PathError::DotSegment),
            ("/.", PathError::DotSegment),
            ("/x/../", PathError::DotSegment),
            ("/x/..;/admin", PathError::DotSegment),
            ("/x/..;a=b/admin", PathError::DotSegment),
            ("/x/%2e%2e/admin", PathError::EncodedDot),
            ("/x/%2E%2E/admin", PathError::EncodedDot),
            ("/x/.%2e/admin", PathError::EncodedDot),
            ("/a%2eb", PathError::EncodedDot),
        ] {
            assert_eq!(normalise(path), Err(error), "{path:?}");
        }
    }

    #[test]
    fn normalising_twice_changes_nothing() {
        for path in ["/%61dmin", "/a{b", "/caf%c3%a9", "/x/y/", "/%7e"] {
            let once = normalise(path).unwrap();
            assert_eq!(normalise(&once).as_deref(), Ok(once.as_str()), "{path}");
        }
    }

    #[test]
    fn case_folding_lowers_letters_but_not_escapes() {
        assert_eq!(case_folded("/ADMIN/Users"), "/admin/users");
        assert_eq!(case_folded("/Caf%C3%A9/%7B"), "/caf%C3%A9/%7B");
    }
}
