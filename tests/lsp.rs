//! `thinktok lsp` over the protocol: the real binary as a child process, JSON-RPC with `Content-Length` framing on
//! its stdin and stdout. Every read has a timeout, so a hung server fails the test instead of hanging CI.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// How long one answer may take (generous: CI shares two cores with builds).
const TIMEOUT: Duration = Duration::from_secs(30);

/// A running `thinktok lsp`, killed when dropped.
struct Server {
    child: Child,
    stdin: Option<ChildStdin>,
    frames: Receiver<Value>,
    /// Messages read while waiting for another one.
    backlog: VecDeque<Value>,
    next_id: i64,
}

impl Server {
    fn start() -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_thinktok"))
            .arg("lsp")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start thinktok lsp");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, frames) = mpsc::channel();
        std::thread::spawn(move || {
            let mut out = BufReader::new(stdout);
            while let Some(frame) = read_frame(&mut out) {
                if tx.send(frame).is_err() {
                    break;
                }
            }
        });
        Server { stdin: child.stdin.take(), child, frames, backlog: VecDeque::new(), next_id: 1 }
    }

    fn send(&mut self, message: Value) {
        let body = message.to_string();
        let stdin = self.stdin.as_mut().expect("stdin open");
        write!(stdin, "Content-Length: {}\r\n\r\n{body}", body.len()).expect("write to the server");
        stdin.flush().expect("flush");
    }

    fn notify(&mut self, method: &str, params: Value) {
        self.send(json!({ "jsonrpc": "2.0", "method": method, "params": params }));
    }

    /// Send a request and wait for its response (the whole response object: `result` or `error`).
    fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send(json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }));
        self.wait(&format!("the response to {method}"), |m| m["id"] == json!(id) && m.get("method").is_none())
    }

    /// The next `textDocument/publishDiagnostics` for `uri`.
    fn diagnostics(&mut self, uri: &str) -> Value {
        self.wait(&format!("diagnostics for {uri}"), |m| {
            m["method"] == "textDocument/publishDiagnostics" && m["params"]["uri"] == uri
        })["params"]
            .clone()
    }

    fn wait(&mut self, what: &str, wanted: impl Fn(&Value) -> bool) -> Value {
        if let Some(i) = self.backlog.iter().position(&wanted) {
            return self.backlog.remove(i).expect("in the backlog");
        }
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.frames.recv_timeout(left) {
                Ok(message) if wanted(&message) => return message,
                Ok(message) => self.backlog.push_back(message),
                Err(err) => panic!("no {what} within {TIMEOUT:?} ({err}); read meanwhile: {:?}", self.backlog),
            }
        }
    }

    /// Wait for the process to end by itself and return its exit code.
    fn exit_code(&mut self) -> Option<i32> {
        let deadline = Instant::now() + TIMEOUT;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("poll the server") {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("the server did not exit within {TIMEOUT:?} of `exit`");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// One `Content-Length` frame as JSON; `None` when the stream ends.
fn read_frame(input: &mut impl BufRead) -> Option<Value> {
    let mut length = None;
    loop {
        let mut line = String::new();
        if input.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse::<usize>().ok();
            }
        }
    }
    let mut body = vec![0; length?];
    input.read_exact(&mut body).ok()?;
    serde_json::from_slice(&body).ok()
}

/// A file URI as the server writes them (percent-encoding all but unreserved characters, `/` and `:`).
fn file_uri(path: &Path) -> String {
    let mut out = String::from("file://");
    for b in path.to_str().expect("a UTF-8 path").bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/:".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("thinktok-lsp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create a temp dir");
    std::fs::canonicalize(dir).expect("canonical temp dir")
}

fn labels(completion: &Value) -> Vec<&str> {
    let items = completion["result"].as_array().expect("a completion array");
    items.iter().filter_map(|i| i["label"].as_str()).collect()
}

fn item<'a>(completion: &'a Value, label: &str) -> &'a Value {
    let items = completion["result"].as_array().expect("a completion array");
    items.iter().find(|i| i["label"] == label).unwrap_or_else(|| panic!("no `{label}` in {completion}"))
}

fn position(doc: &Value, line: u32, character: u32) -> Value {
    json!({ "textDocument": doc, "position": { "line": line, "character": character } })
}

const VALID: &str = "experiment \"x\" {
  data {
    train = task.sum3(count = 100)
    test = task.sum3(count = 100, seed = 1)
  }
  episode {
    cull = 0.5

    insertion = fast_forward()
  }
}
";

#[test]
fn lsp_session_over_stdio() {
    let dir = temp_dir();
    let spec = dir.join("spec.think");
    let uri = file_uri(&spec);
    let doc = json!({ "uri": uri });
    let mut server = Server::start();

    // initialize: the capabilities.
    let init = server.request("initialize", json!({ "processId": null, "rootUri": null, "capabilities": {} }));
    let caps = &init["result"]["capabilities"];
    assert!(caps["completionProvider"].is_object(), "{init}");
    assert_eq!(caps["hoverProvider"], json!(true), "{init}");
    assert_eq!(caps["definitionProvider"], json!(true), "{init}");
    assert_eq!(caps["textDocumentSync"]["change"], json!(1), "full sync: {init}");
    assert_eq!(caps["textDocumentSync"]["openClose"], json!(true), "{init}");
    server.notify("initialized", json!({}));

    // didOpen with an unknown key: E0203 at `stepz` (line 0, characters 25..30).
    let text = "experiment \"x\" { learn { stepz = 3 } }\n";
    let item_json = json!({ "uri": uri, "languageId": "thinktok", "version": 1, "text": text });
    server.notify("textDocument/didOpen", json!({ "textDocument": item_json }));
    let published = server.diagnostics(&uri);
    let diags = published["diagnostics"].as_array().expect("a diagnostics list");
    let unknown = diags.iter().find(|d| d["code"] == "E0203").unwrap_or_else(|| panic!("no E0203 in {published}"));
    assert_eq!(
        unknown["range"],
        json!({ "start": { "line": 0, "character": 25 }, "end": { "line": 0, "character": 30 } })
    );
    assert_eq!(unknown["source"], "thinktok");
    assert_eq!(unknown["severity"], 1);
    let message = unknown["message"].as_str().unwrap_or_default();
    assert!(message.starts_with("unknown key `stepz` in `learn`"), "{message}");
    assert!(message.contains("\nhelp: did you mean `steps`?"), "{message}");
    // The spec also lacks its data: every error is published, not just the first.
    assert!(diags.iter().any(|d| d["code"] == "E0213"), "{published}");

    // didChange to a valid spec: an empty list.
    let change = json!({ "textDocument": { "uri": uri, "version": 2 }, "contentChanges": [{ "text": VALID }] });
    server.notify("textDocument/didChange", change);
    let published = server.diagnostics(&uri);
    assert_eq!(published["diagnostics"], json!([]), "{published}");
    assert_eq!(published["version"], 2);

    // Completion inside `episode { | }` (the blank line 7): the episode block's keys.
    let completion = server.request("textDocument/completion", position(&doc, 7, 4));
    let offered = labels(&completion);
    assert!(offered.contains(&"cull") && offered.contains(&"thought_budget"), "{offered:?}");
    assert!(!offered.contains(&"steps"), "learn's keys offered in episode: {offered:?}");
    let cull = item(&completion, "cull");
    assert_eq!(cull["kind"], 10, "Property: {cull}");
    assert_eq!(cull["detail"], "a number in (0, 1)");

    // Completion after `insertion = ` (line 8, character 16): the insertion functions.
    let completion = server.request("textDocument/completion", position(&doc, 8, 16));
    let fast_forward = item(&completion, "fast_forward");
    assert_eq!(fast_forward["kind"], 3, "Function: {fast_forward}");
    assert_eq!(fast_forward["detail"], "fast_forward(fallback, threshold, max_consecutive)");
    assert!(labels(&completion).contains(&"random"));

    // Hover on `cull` (line 6, characters 4..8): its type, default and doc, and the word's range.
    let hover = server.request("textDocument/hover", position(&doc, 6, 5));
    let value = hover["result"]["contents"]["value"].as_str().unwrap_or_default();
    assert!(value.contains("a number in (0, 1)") && value.contains("default `0.5`"), "{hover}");
    assert!(value.contains("Fraction of each round's proposals dropped."), "{hover}");
    assert_eq!(hover["result"]["contents"]["kind"], "markdown");
    let range = json!({ "start": { "line": 6, "character": 4 }, "end": { "line": 6, "character": 8 } });
    assert_eq!(hover["result"]["range"], range);
    // Hover on the function name.
    let hover = server.request("textDocument/hover", position(&doc, 8, 18));
    let value = hover["result"]["contents"]["value"].as_str().unwrap_or_default();
    assert!(value.contains("fast_forward(fallback, threshold, max_consecutive)"), "{hover}");

    // Go to definition on an import string: the imported file (it resolves, so no diagnostics).
    let default = std::fs::canonicalize(Path::new(env!("CARGO_MANIFEST_DIR")).join("specs/default.think"))
        .expect("specs/default.think");
    let importing = dir.join("importing.think");
    let importing_uri = file_uri(&importing);
    let text = format!("import \"{}\"\nexperiment \"y\" {{ learn {{ steps = 10 }} }}\n", default.display());
    let item_json = json!({ "uri": importing_uri, "languageId": "thinktok", "version": 1, "text": text });
    server.notify("textDocument/didOpen", json!({ "textDocument": item_json }));
    let published = server.diagnostics(&importing_uri);
    assert_eq!(published["diagnostics"], json!([]), "{published}");
    let definition = server.request("textDocument/definition", position(&json!({ "uri": importing_uri }), 0, 10));
    assert_eq!(definition["result"]["uri"], file_uri(&default), "{definition}");
    assert_eq!(definition["result"]["range"]["start"], json!({ "line": 0, "character": 0 }));
    // Not on an import: no definition.
    let definition = server.request("textDocument/definition", position(&json!({ "uri": importing_uri }), 1, 3));
    assert_eq!(definition["result"], Value::Null, "{definition}");

    // Bad requests are answered with errors, and the server goes on.
    let bad = server.request("textDocument/hover", json!({ "bogus": 1 }));
    assert_eq!(bad["error"]["code"], -32602, "invalid params: {bad}");
    let unknown = server.request("textDocument/formatting", position(&doc, 0, 0));
    assert_eq!(unknown["error"]["code"], -32601, "method not found: {unknown}");

    // shutdown → a response; exit → the process ends with status 0.
    let shutdown = server.request("shutdown", Value::Null);
    assert_eq!(shutdown.get("result"), Some(&Value::Null), "{shutdown}");
    server.notify("exit", Value::Null);
    assert_eq!(server.exit_code(), Some(0));
    let _ = std::fs::remove_dir_all(&dir);
}
