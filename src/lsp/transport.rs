//! The stdio transport: `Content-Length` frames read on a thread, `lsp_server::Message`s written to stdout.
//!
//! lsp-server's own `Connection::stdio()` is not used, only its message types and writer: its reader thread ends
//! the whole session at the first frame whose JSON does not parse (so one bad message from a client would stop the
//! server) and allocates whatever a `Content-Length` header says. This reader skips a bad frame, answers it when it
//! carries a request id, and caps a frame's size.

use std::io::{self, BufRead, Read};
use std::sync::mpsc::{self, Receiver};

use lsp_server::{Message, RequestId};

/// The largest frame read (a spec is a few KiB; this is generous for any client).
const MAX_FRAME: usize = 64 << 20;

/// What the reader got from one frame.
#[derive(Debug)]
pub enum Incoming {
    Message(Message),
    /// A frame that is not a JSON-RPC message; `id` when it is JSON with a request id (so it can be answered).
    Malformed {
        id: Option<RequestId>,
        reason: String,
    },
}

/// Read stdin on a thread until it closes; the channel disconnects then.
pub fn spawn_reader() -> Receiver<Incoming> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let stdin = io::stdin();
        let mut input = stdin.lock();
        while let Ok(Some(frame)) = read_frame(&mut input) {
            if tx.send(frame).is_err() {
                break;
            }
        }
    });
    rx
}

/// Write one message to stdout (flushed).
pub fn send(message: impl Into<Message>) -> io::Result<()> {
    let stdout = io::stdout();
    let mut out = stdout.lock();
    message.into().write(&mut out)
}

/// One frame: `None` at the end of the input.
pub fn read_frame(input: &mut impl BufRead) -> io::Result<Option<Incoming>> {
    let mut length = None;
    let mut bad_header = None;
    let mut seen_header = false;
    let mut line = Vec::new();
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line)? == 0 {
            return Ok(None);
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches(['\r', '\n']);
        if text.is_empty() {
            if seen_header {
                break;
            }
            continue; // a stray blank line between frames
        }
        seen_header = true;
        match text.split_once(':') {
            Some((name, value)) if name.trim().eq_ignore_ascii_case("content-length") => {
                length = value.trim().parse::<usize>().ok();
                if length.is_none() {
                    bad_header = Some(format!("bad Content-Length `{}`", value.trim()));
                }
            }
            Some(_) => {} // Content-Type and the like
            None => bad_header = Some(format!("malformed header `{text}`")),
        }
    }
    let malformed = |reason: String| Ok(Some(Incoming::Malformed { id: None, reason }));
    let Some(length) = length else {
        return malformed(bad_header.unwrap_or_else(|| "no Content-Length header".to_string()));
    };
    if length > MAX_FRAME {
        io::copy(&mut input.take(length as u64), &mut io::sink())?;
        return malformed(format!("a frame of {length} bytes (at most {MAX_FRAME})"));
    }
    let mut body = vec![0; length];
    match input.read_exact(&mut body) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let Ok(body) = String::from_utf8(body) else {
        return malformed("a frame that is not UTF-8".to_string());
    };
    Ok(Some(match serde_json::from_str::<Message>(&body) {
        Ok(message) => Incoming::Message(message),
        Err(err) => {
            let value = serde_json::from_str::<serde_json::Value>(&body).ok();
            let id = value.and_then(|v| v.get("id").and_then(|id| serde_json::from_value(id.clone()).ok()));
            Incoming::Malformed { id, reason: format!("not a JSON-RPC message: {err}") }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(input: &str) -> Vec<String> {
        let mut reader = io::BufReader::new(input.as_bytes());
        let mut out = Vec::new();
        while let Ok(Some(frame)) = read_frame(&mut reader) {
            out.push(match frame {
                Incoming::Message(Message::Request(r)) => format!("request {}", r.method),
                Incoming::Message(Message::Notification(n)) => format!("notification {}", n.method),
                Incoming::Message(Message::Response(_)) => "response".to_string(),
                Incoming::Malformed { id, .. } => format!("malformed {id:?}"),
            });
        }
        out
    }

    #[test]
    fn skips_bad_frames_and_keeps_reading() {
        let good = r#"{"jsonrpc":"2.0","method":"exit"}"#;
        let bad = r#"{"jsonrpc":"2.0","id":7,"nomethod":1}"#;
        let input = format!(
            "Content-Length: {}\r\n\r\n{good}Content-Length: 3\r\nContent-Type: x\r\n\r\n{{{{{{\
             Content-Length: {}\r\n\r\n{bad}\nContent-Length: {}\n\n{good}Content-Length: 99999999999\r\n\r\n",
            good.len(),
            bad.len(),
            good.len()
        );
        let got = frames(&input);
        assert_eq!(got[0], "notification exit");
        assert_eq!(got[1], "malformed None");
        assert!(got[2].starts_with("malformed Some"), "{got:?}");
        assert_eq!(got[3], "notification exit");
        assert_eq!(got[4], "malformed None");
        assert_eq!(got.len(), 5);
    }
}
