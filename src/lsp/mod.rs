//! `thinktok lsp`: a language server for spec files over stdio (LSP 3.17, full text sync).
//!
//! It answers from the front end alone, never the engine: diagnostics are `crate::compile_str`'s (`publish.rs`),
//! completion and hover come from the schema tables (`complete.rs`, `hover.rs`, reading the text through `scan.rs`,
//! `context.rs` and `keys.rs`), and go to definition follows `import "path"` strings. Messages are framed by
//! `transport.rs` and typed with `lsp-server` / `lsp-types`. Nothing a client sends can panic the server: bad
//! frames are skipped, bad parameters get an error response, and a panic inside an answer is caught and reported
//! as an internal error.

mod complete;
mod context;
mod hover;
mod keys;
mod publish;
mod scan;
mod transport;
mod uri;

use std::collections::{BTreeSet, HashMap};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::process::ExitCode;

use lsp_server::{ErrorCode, Message, Notification, Request, Response};
use lsp_types::notification::{
    DidChangeTextDocument, DidCloseTextDocument, DidOpenTextDocument, Notification as _, PublishDiagnostics,
};
use lsp_types::request::{Completion, GotoDefinition, HoverRequest, Request as _};
use lsp_types::{
    CompletionOptions, CompletionResponse, DidChangeTextDocumentParams, DidCloseTextDocumentParams,
    DidOpenTextDocumentParams, GotoDefinitionResponse, HoverProviderCapability, InitializeResult, OneOf,
    PublishDiagnosticsParams, ServerCapabilities, ServerInfo, TextDocumentPositionParams, TextDocumentSyncCapability,
    TextDocumentSyncKind, TextDocumentSyncOptions, Uri,
};
use serde::de::DeserializeOwned;
use serde_json::Value;

use transport::Incoming;

/// Serve on stdin/stdout until `exit`: exit code 0 after `shutdown`, 1 without it (or when stdin closes first).
pub fn serve() -> anyhow::Result<ExitCode> {
    let incoming = transport::spawn_reader();
    let mut server = Server::default();
    let mut waiting = None;
    loop {
        let Some(next) = waiting.take().or_else(|| incoming.recv().ok()) else {
            return Ok(ExitCode::from(1));
        };
        if let Some(code) = server.handle(next)? {
            return Ok(code);
        }
        // Diagnostics once no message is waiting: a burst of edits is compiled once, at its last text.
        match incoming.try_recv() {
            Ok(next) => waiting = Some(next),
            Err(_) => server.publish_dirty()?,
        }
    }
}

/// The capabilities `initialize` answers with.
fn capabilities() -> ServerCapabilities {
    ServerCapabilities {
        text_document_sync: Some(TextDocumentSyncCapability::Options(TextDocumentSyncOptions {
            open_close: Some(true),
            change: Some(TextDocumentSyncKind::FULL),
            ..TextDocumentSyncOptions::default()
        })),
        completion_provider: Some(CompletionOptions {
            trigger_characters: Some([".", "(", ","].map(String::from).to_vec()),
            ..CompletionOptions::default()
        }),
        hover_provider: Some(HoverProviderCapability::Simple(true)),
        definition_provider: Some(OneOf::Left(true)),
        ..ServerCapabilities::default()
    }
}

#[derive(Debug, Default, PartialEq, Eq)]
enum State {
    #[default]
    Uninitialized,
    Running,
    ShutDown,
}

/// An open document: its text as the client last sent it.
struct Doc {
    uri: Uri,
    version: Option<i32>,
    text: String,
}

impl Doc {
    /// The name the front end compiles it under: its file path (imports resolve relative to it), else the URI.
    fn name(&self) -> String {
        uri::to_path(&self.uri).map_or_else(|| self.uri.as_str().to_string(), |p| p.display().to_string())
    }
}

#[derive(Default)]
struct Server {
    state: State,
    docs: HashMap<String, Doc>,
    /// Documents whose diagnostics are out of date.
    dirty: BTreeSet<String>,
    /// Documents closed since the last publish: their diagnostics are cleared.
    pending_close: Vec<Uri>,
}

impl Server {
    /// One message; `Some(exit code)` on `exit`.
    fn handle(&mut self, incoming: Incoming) -> anyhow::Result<Option<ExitCode>> {
        match incoming {
            Incoming::Message(Message::Request(req)) => self.request(req)?,
            Incoming::Message(Message::Notification(n)) if n.method == "exit" => {
                return Ok(Some(ExitCode::from(if self.state == State::ShutDown { 0 } else { 1 })));
            }
            Incoming::Message(Message::Notification(n)) => self.notification(n),
            Incoming::Message(Message::Response(_)) => {} // the server sends no requests
            Incoming::Malformed { id: Some(id), reason } => {
                transport::send(Response::new_err(id, ErrorCode::InvalidRequest as i32, reason))?;
            }
            Incoming::Malformed { id: None, reason } => eprintln!("thinktok lsp: ignored a frame: {reason}"),
        }
        Ok(None)
    }

    fn request(&mut self, req: Request) -> std::io::Result<()> {
        let reply =
            |code: ErrorCode, message: &str| Response::new_err(req.id.clone(), code as i32, message.to_string());
        let response = match (&self.state, req.method.as_str()) {
            (State::Uninitialized, "initialize") => {
                self.state = State::Running;
                let server_info =
                    ServerInfo { name: "thinktok".to_string(), version: Some(env!("CARGO_PKG_VERSION").to_string()) };
                let result = InitializeResult { capabilities: capabilities(), server_info: Some(server_info) };
                Response::new_ok(req.id.clone(), result)
            }
            (State::Uninitialized, _) => reply(ErrorCode::ServerNotInitialized, "the server is not initialized yet"),
            (State::ShutDown, _) => reply(ErrorCode::InvalidRequest, "the server is shut down: send `exit`"),
            (State::Running, "initialize") => reply(ErrorCode::InvalidRequest, "the server is already initialized"),
            (State::Running, "shutdown") => {
                self.state = State::ShutDown;
                Response::new_ok(req.id.clone(), Value::Null)
            }
            (State::Running, method) => match catch_unwind(AssertUnwindSafe(|| self.answer(method, &req.params))) {
                Ok(Ok(value)) => Response::new_ok(req.id.clone(), value),
                Ok(Err((code, message))) => reply(code, &message),
                Err(_) => {
                    reply(ErrorCode::InternalError, "thinktok lsp panicked on this request (a bug: please report it)")
                }
            },
        };
        transport::send(response)
    }

    /// The result of a request, or an error code and message.
    fn answer(&self, method: &str, params: &Value) -> Result<Value, (ErrorCode, String)> {
        let json =
            |value: Result<Value, serde_json::Error>| value.map_err(|e| (ErrorCode::InternalError, e.to_string()));
        match method {
            Completion::METHOD => {
                let p: lsp_types::CompletionParams = parse(params)?;
                let items = self.at(&p.text_document_position, complete::complete).unwrap_or_default();
                json(serde_json::to_value(CompletionResponse::Array(items)))
            }
            HoverRequest::METHOD => {
                let p: lsp_types::HoverParams = parse(params)?;
                json(serde_json::to_value(self.at(&p.text_document_position_params, hover::hover).flatten()))
            }
            GotoDefinition::METHOD => {
                let p: lsp_types::GotoDefinitionParams = parse(params)?;
                let pos = &p.text_document_position_params;
                let doc = self.docs.get(pos.text_document.uri.as_str());
                let target = doc.and_then(|d| {
                    let path = hover::definition(&d.name(), &d.text, scan::offset(&d.text, pos.position))?;
                    uri::from_path(&std::fs::canonicalize(&path).unwrap_or(path))
                });
                let location = target.map(|uri| lsp_types::Location { uri, range: lsp_types::Range::default() });
                json(serde_json::to_value(location.map(GotoDefinitionResponse::Scalar)))
            }
            _ => Err((ErrorCode::MethodNotFound, format!("thinktok lsp does not answer `{method}`"))),
        }
    }

    /// `f(text, byte offset)` for an open document's position; `None` when the document is not open.
    fn at<T>(&self, pos: &TextDocumentPositionParams, f: impl Fn(&str, usize) -> T) -> Option<T> {
        let doc = self.docs.get(pos.text_document.uri.as_str())?;
        Some(f(&doc.text, scan::offset(&doc.text, pos.position)))
    }

    fn notification(&mut self, n: Notification) {
        if self.state != State::Running {
            return; // before `initialize` and after `shutdown`, only `exit` counts
        }
        let outcome = match n.method.as_str() {
            DidOpenTextDocument::METHOD => parse(&n.params).map(|p: DidOpenTextDocumentParams| {
                let doc = p.text_document;
                self.open(Doc { uri: doc.uri, version: Some(doc.version), text: doc.text });
            }),
            DidChangeTextDocument::METHOD => parse(&n.params).map(|p: DidChangeTextDocumentParams| {
                let key = p.text_document.uri.as_str().to_string();
                if let Some(doc) = self.docs.get_mut(&key) {
                    for change in p.content_changes {
                        apply(&mut doc.text, change);
                    }
                    doc.version = Some(p.text_document.version);
                    self.dirty.insert(key);
                }
            }),
            DidCloseTextDocument::METHOD => parse(&n.params).map(|p: DidCloseTextDocumentParams| {
                let uri = p.text_document.uri;
                self.docs.remove(uri.as_str());
                self.dirty.remove(uri.as_str());
                self.pending_close.push(uri);
            }),
            _ => Ok(()), // `initialized`, `$/cancelRequest`, settings: nothing to do
        };
        if let Err((_, message)) = outcome {
            eprintln!("thinktok lsp: ignored `{}`: {message}", n.method);
        }
    }

    fn open(&mut self, doc: Doc) {
        let key = doc.uri.as_str().to_string();
        self.docs.insert(key.clone(), doc);
        self.dirty.insert(key);
    }

    /// Publish the diagnostics of every document whose text changed since they were last published.
    fn publish_dirty(&mut self) -> std::io::Result<()> {
        for uri in std::mem::take(&mut self.pending_close) {
            publish(uri, Vec::new(), None)?;
        }
        for key in std::mem::take(&mut self.dirty) {
            let Some(doc) = self.docs.get(&key) else { continue };
            let diagnostics = catch_unwind(AssertUnwindSafe(|| publish::diagnostics(&doc.uri, &doc.name(), &doc.text)));
            let diagnostics = diagnostics.unwrap_or_else(|_| vec![internal_error()]);
            publish(doc.uri.clone(), diagnostics, doc.version)?;
        }
        Ok(())
    }
}

fn publish(uri: Uri, diagnostics: Vec<lsp_types::Diagnostic>, version: Option<i32>) -> std::io::Result<()> {
    let params = PublishDiagnosticsParams { uri, diagnostics, version };
    transport::send(Notification::new(PublishDiagnostics::METHOD.to_string(), params))
}

/// What a document shows when the checker itself panicked on it.
fn internal_error() -> lsp_types::Diagnostic {
    lsp_types::Diagnostic {
        severity: Some(lsp_types::DiagnosticSeverity::ERROR),
        source: Some("thinktok".to_string()),
        message: "thinktok's checker panicked on this text (a bug: please report it)".to_string(),
        ..lsp_types::Diagnostic::default()
    }
}

/// Apply one change: the whole text, or (should a client send them anyway) a range's replacement.
fn apply(text: &mut String, change: lsp_types::TextDocumentContentChangeEvent) {
    match change.range {
        None => *text = change.text,
        Some(range) => {
            let start = scan::offset(text, range.start);
            let end = scan::offset(text, range.end).max(start);
            text.replace_range(start..end, &change.text);
        }
    }
}

fn parse<P: DeserializeOwned>(params: &Value) -> Result<P, (ErrorCode, String)> {
    P::deserialize(params).map_err(|e| (ErrorCode::InvalidParams, format!("invalid parameters: {e}")))
}
