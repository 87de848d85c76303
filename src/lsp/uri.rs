//! `file://` URIs and file paths, both ways (percent-encoding by hand: only local files are served).

use std::path::{Path, PathBuf};
use std::str::FromStr;

use lsp_types::Uri;

/// The local path of a `file://` URI (`file:///a/b%20c.think` → `/a/b c.think`); `None` for other schemes.
pub fn to_path(uri: &Uri) -> Option<PathBuf> {
    let rest = uri.as_str().strip_prefix("file://")?;
    let rest = rest.split(['?', '#']).next().unwrap_or(rest);
    // `file:///p` or `file://localhost/p`; another host is not a local file.
    let path = match rest.find('/') {
        Some(0) => rest,
        Some(n) if rest[..n].eq_ignore_ascii_case("localhost") => &rest[n..],
        _ => return None,
    };
    let decoded = String::from_utf8(percent_decode(path)).ok()?;
    // `file:///C:/x` is `C:/x` on Windows.
    let decoded = match decoded.as_bytes() {
        [b'/', drive, b':', ..] if cfg!(windows) && drive.is_ascii_alphabetic() => decoded[1..].to_string(),
        _ => decoded,
    };
    Some(PathBuf::from(decoded))
}

/// The `file://` URI of an absolute path.
pub fn from_path(path: &Path) -> Option<Uri> {
    if !path.is_absolute() {
        return None;
    }
    let text = path.to_str()?.replace('\\', "/");
    let text = if text.starts_with('/') { text } else { format!("/{text}") };
    let mut out = String::from("file://");
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/:".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    Uri::from_str(&out).ok()
}

fn percent_decode(s: &str) -> Vec<u8> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(unix)]
    fn round_trips_odd_names() {
        let path = Path::new("/tmp/a b/é#1.think");
        let uri = from_path(path);
        assert_eq!(uri.as_ref().map(|u| u.as_str()), Some("file:///tmp/a%20b/%C3%A9%231.think"));
        assert_eq!(uri.as_ref().and_then(to_path).as_deref(), Some(path));
        let local = Uri::from_str("file://localhost/x%2Fy.think").ok();
        assert_eq!(local.as_ref().and_then(to_path), Some(PathBuf::from("/x/y.think")));
        let other = Uri::from_str("untitled:Untitled-1").ok();
        assert_eq!(other.as_ref().and_then(to_path), None);
        assert!(from_path(Path::new("relative.think")).is_none());
    }
}
