//! The shared test harness: starts the real `shootlog` binary on a loopback
//! port (port 0) with a journal in a temporary directory, and, when a test
//! needs a ledger, the project's Convex stand-in.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use reqwest::header::HeaderMap;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The service's answer, decoded.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `errors[].pointer` of a problem document.
    pub fn pointers(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .map(|a| a.iter().filter_map(|e| e["pointer"].as_str().map(String::from)).collect())
            .unwrap_or_default()
    }

    /// `(pointer, code)` of each `errors[]` entry of a problem document.
    pub fn violations(&self) -> Vec<(&str, &str)> {
        self.body["errors"]
            .as_array()
            .map(|a| {
                a.iter().map(|e| (e["pointer"].as_str().unwrap_or(""), e["code"].as_str().unwrap_or(""))).collect()
            })
            .unwrap_or_default()
    }

    /// The `eventId` of a receipt, as a string.
    pub fn event_id(&self) -> String {
        self.body["eventId"].as_str().unwrap_or_else(|| panic!("no eventId in {:#}", self.body)).to_string()
    }

    /// Asserts the receipt of a newly journaled event of this kind: 202,
    /// pending, not a replay, `Location` naming the event. Returns its id.
    pub fn assert_new_receipt(&self, kind: &str) -> String {
        assert_eq!(self.status, 202, "{:#}", self.body);
        assert_eq!(self.body["type"], kind, "{:#}", self.body);
        assert_eq!(self.body["status"], "pending", "{:#}", self.body);
        assert_eq!(self.body["replayed"], false, "{:#}", self.body);
        let id = self.event_id();
        assert_eq!(self.header("location"), Some(format!("/v1/events/{id}").as_str()));
        id
    }

    pub fn content_type(&self) -> &str {
        self.header("content-type").unwrap_or("")
    }

    /// Asserts a problem document with this status and code.
    pub fn assert_problem(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "status of {:#}", self.body);
        assert_eq!(self.content_type(), "application/problem+json", "content type of {:#}", self.body);
        assert_eq!(self.body["status"], status, "problem status of {:#}", self.body);
        assert_eq!(self.body["code"], code, "problem code of {:#}", self.body);
    }
}

/// How to start the service.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Reuse this data directory (restart tests); a fresh one otherwise.
    pub data_dir: Option<PathBuf>,
    pub convex_url: Option<String>,
    pub env: Vec<(String, String)>,
}

/// A running `shootlog` process.
pub struct Server {
    child: Child,
    pub base: String,
    pub data_dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
    pub client: reqwest::Client,
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(60)).build().expect("reqwest client")
}

impl Server {
    /// The service on its embedded default (no ledger).
    pub async fn start() -> Server {
        Self::start_with(Options::default()).await
    }

    pub async fn start_with(opts: Options) -> Server {
        let (tmp, data_dir) = match opts.data_dir {
            Some(d) => (None, d),
            None => {
                let t = tempfile::tempdir().expect("tempdir");
                let d = t.path().to_path_buf();
                (Some(t), d)
            }
        };
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(data_dir.join("server.log"))
            .or_else(|_| {
                std::fs::create_dir_all(&data_dir)?;
                std::fs::File::create(data_dir.join("server.log"))
            })
            .expect("server log");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_shootlog"));
        cmd.arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(&data_dir)
            .env_remove("CONVEX_URL")
            .env_remove("CONVEX_DEPLOY_KEY")
            .env("RUST_LOG", "info,shootlog=debug")
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .kill_on_drop(true);
        if let Some(url) = &opts.convex_url {
            cmd.env("CONVEX_URL", url).env("CONVEX_DEPLOY_KEY", STANDIN_ADMIN_KEY);
        }
        for (k, v) in &opts.env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start shootlog");
        let stdout = child.stdout.take().expect("stdout");
        let base = read_marker(stdout, "SHOOTLOG_LISTENING=", &data_dir.join("server.log")).await;
        Server { child, base, data_dir, _tmp: tmp, client: client() }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn get(&self, path: &str) -> Resp {
        decode(self.client.get(self.url(path)).send().await.expect("GET")).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Resp {
        self.send(reqwest::Method::POST, path, body, &[]).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Resp {
        self.send(reqwest::Method::PUT, path, body, &[]).await
    }

    /// A JSON request with extra headers.
    pub async fn send(&self, method: reqwest::Method, path: &str, body: &Value, headers: &[(&str, &str)]) -> Resp {
        let mut req = self.client.request(method, self.url(path)).json(body);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        decode(req.send().await.expect("request")).await
    }

    /// A request with a raw body and content type.
    pub async fn raw(&self, method: reqwest::Method, path: &str, content_type: Option<&str>, body: Vec<u8>) -> Resp {
        let mut req = self.client.request(method, self.url(path)).body(body);
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        decode(req.send().await.expect("request")).await
    }

    /// The journal entries of a session, in order.
    pub async fn journal(&self, session: &str) -> Vec<Value> {
        let r = self.get(&format!("/v1/sessions/{session}/journal?limit=1000")).await;
        assert_eq!(r.status, 200, "{:#}", r.body);
        r.body["entries"].as_array().cloned().unwrap_or_default()
    }

    /// `GET /v1/events/{id}`.
    pub async fn event(&self, id: &str) -> Resp {
        self.get(&format!("/v1/events/{id}")).await
    }

    /// Events journaled and not yet settled (`/version` `journal.depth.pending`).
    pub async fn backlog(&self) -> u64 {
        let r = self.get("/version").await;
        assert_eq!(r.status, 200, "{:#}", r.body);
        r.body["journal"]["depth"]["pending"].as_u64().expect("journal.depth.pending")
    }

    pub fn pid(&self) -> u32 {
        self.child.id().unwrap_or(0)
    }

    /// SIGTERM, then wait for a clean exit.
    pub async fn stop(mut self) -> std::process::ExitStatus {
        if let Some(pid) = self.child.id() {
            signal(pid, "TERM");
        }
        tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("shootlog did not stop within 30 s")
            .expect("wait")
    }

    /// SIGKILL: no chance to flush anything.
    pub async fn kill(mut self) {
        let _ = self.child.kill().await;
    }

    /// Waits for the process to exit by itself; None if it still runs
    /// after `secs` (it is then killed).
    pub async fn wait_exit(mut self, secs: u64) -> Option<std::process::ExitStatus> {
        match tokio::time::timeout(Duration::from_secs(secs), self.child.wait()).await {
            Ok(status) => Some(status.expect("wait")),
            Err(_) => {
                let _ = self.child.kill().await;
                None
            }
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.data_dir.join("server.log")).unwrap_or_default()
    }
}

pub fn signal(pid: u32, sig: &str) {
    let _ = std::process::Command::new("kill").arg(format!("-{sig}")).arg(pid.to_string()).status();
}

async fn decode(res: reqwest::Response) -> Resp {
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let bytes = res.bytes().await.expect("body");
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
    };
    Resp { status, headers, body }
}

/// Reads a child's stdout until the line `<marker><url>`.
async fn read_marker(stdout: tokio::process::ChildStdout, marker: &str, log: &Path) -> String {
    let mut lines = BufReader::new(stdout).lines();
    let found = tokio::time::timeout(Duration::from_secs(60), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(url) = line.strip_prefix(marker) {
                return Some(url.trim().to_string());
            }
        }
        None
    })
    .await;
    // Keep draining stdout so that the child never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    match found {
        Ok(Some(url)) => url,
        _ => panic!("no {marker} line; log:\n{}", std::fs::read_to_string(log).unwrap_or_default()),
    }
}

/// The admin key the stand-in accepts by default.
pub const STANDIN_ADMIN_KEY: &str = "shootlog-standin-admin-key";

/// The project's local Convex stand-in (`standin/server.ts`), running the
/// real `convex/` functions.
pub struct Standin {
    child: Child,
    pub url: String,
    pub port: u16,
    pub state_file: PathBuf,
    _tmp: Option<tempfile::TempDir>,
}

/// A ledger URL where nothing listens, ever: port 1 (tcpmux) is never bound
/// on the test machines. (A port bound and freed for the purpose can be
/// handed to another test's process a moment later.)
pub const CLOSED_URL: &str = "http://127.0.0.1:1";

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

impl Standin {
    /// A fresh stand-in with its state in a temporary file.
    pub async fn start() -> Standin {
        let tmp = tempfile::tempdir().expect("tempdir");
        let state = tmp.path().join("standin-state.jsonl");
        let mut s = Self::start_at(&state, 0).await;
        s._tmp = Some(tmp);
        s
    }

    /// A fresh stand-in with extra environment (e.g. the test-only
    /// `STANDIN_FAULT_THROW_ON`, see standin/README.md).
    pub async fn start_with_env(env: &[(&str, &str)]) -> Standin {
        let tmp = tempfile::tempdir().expect("tempdir");
        let state = tmp.path().join("standin-state.jsonl");
        let mut s = Self::start_at_with_env(&state, 0, env).await;
        s._tmp = Some(tmp);
        s
    }

    /// A stand-in on `port` (0 = any) with its state in `state_file`.
    pub async fn start_at(state_file: &Path, port: u16) -> Standin {
        Self::start_at_with_env(state_file, port, &[]).await
    }

    async fn start_at_with_env(state_file: &Path, port: u16, env: &[(&str, &str)]) -> Standin {
        let root = repo_root();
        let log = std::fs::File::create(state_file.with_extension("log")).expect("standin log");
        // `node --import tsx` directly: wrappers (npx, tsx's CLI) would not
        // pass a SIGKILL on to the server.
        let mut child = Command::new("node")
            .arg("--import")
            .arg("tsx")
            .arg(root.join("standin/server.ts"))
            .arg("--parent-pid")
            .arg(std::process::id().to_string())
            .arg("--port")
            .arg(port.to_string())
            .arg("--state")
            .arg(state_file)
            .current_dir(&root)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            .spawn()
            .expect("start the Convex stand-in (run `npm ci` first)");
        let stdout = child.stdout.take().expect("stdout");
        let url = read_marker(stdout, "CONVEX_STANDIN_URL=", &state_file.with_extension("log")).await;
        let port = url.rsplit(':').next().and_then(|p| p.parse().ok()).expect("standin port");
        Standin { child, url, port, state_file: state_file.to_path_buf(), _tmp: None }
    }

    /// Stops the stand-in (SIGKILL) and starts it again on the same port
    /// with the same state.
    pub async fn restart(&mut self) {
        let _ = self.child.kill().await;
        let tmp = self._tmp.take();
        let mut next = Self::start_at(&self.state_file, self.port).await;
        next._tmp = tmp;
        *self = next;
    }

    pub async fn kill(&mut self) {
        let _ = self.child.kill().await;
    }

    pub async fn start_again(&mut self) {
        let tmp = self._tmp.take();
        let mut next = Self::start_at(&self.state_file, self.port).await;
        next._tmp = tmp;
        *self = next;
    }

    /// Runs a query through the stand-in's HTTP API (admin).
    pub async fn query(&self, path: &str, args: Value) -> Value {
        let res = client()
            .post(format!("{}/api/query", self.url))
            .header("authorization", format!("Convex {STANDIN_ADMIN_KEY}"))
            .json(&serde_json::json!({"path": path, "args": args, "format": "json"}))
            .send()
            .await
            .expect("standin query");
        let status = res.status();
        let body: Value = res.json().await.expect("standin json");
        // A function error is HTTP 200 with `"status": "error"`, as on the
        // real backend.
        assert!(status.is_success() && body["status"] == "success", "query {path}: {status} {body:#}");
        body["value"].clone()
    }
}

impl Standin {
    /// A session as the ledger holds it, read as the service reads it
    /// (`ledger:sessionHeader`, then every page of `ledger:sessionEvents`,
    /// `sessionStills` and `sessionPlacements`): `{ session, cameras,
    /// placements, events, stills }`, or null.
    pub async fn session(&self, session_key: &str) -> Value {
        let header = self.query("ledger:sessionHeader", serde_json::json!({"sessionKey": session_key})).await;
        if header.is_null() {
            return Value::Null;
        }
        let mut doc = serde_json::json!({"session": header["session"], "cameras": header["cameras"]});
        for (name, path) in [
            ("placements", "ledger:sessionPlacements"),
            ("events", "ledger:sessionEvents"),
            ("stills", "ledger:sessionStills"),
        ] {
            let mut rows = Vec::new();
            let mut cursor = Value::Null;
            loop {
                let args = serde_json::json!({"sessionKey": session_key, "paginationOpts": {"numItems": 256, "cursor": cursor}});
                let page = self.query(path, args).await;
                rows.extend(page["page"].as_array().cloned().unwrap_or_default());
                if page["isDone"] == true {
                    break;
                }
                cursor = page["continueCursor"].clone();
            }
            doc[name] = Value::Array(rows);
        }
        doc
    }
}

/// Polls `f` until it returns Some, or panics after `secs`.
pub async fn eventually<T, F, Fut>(secs: u64, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out after {secs} s waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

impl Server {
    /// A request with any method and headers, and an optional raw body (no
    /// content type unless `headers` names one).
    pub async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Resp {
        let mut req = self.client.request(method, self.url(path));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.body(b);
        }
        decode(req.send().await.expect("request")).await
    }
}

/// The environment variables that configure credentials, removed before
/// [`run_to_exit`] applies its own.
pub const CREDENTIAL_VARS: &[&str] = &[
    "SHOOTLOG_ADMIN_TOKEN",
    "SHOOTLOG_DEVICE_TOKENS",
    "SHOOTLOG_DEVICE_TOKENS_FILE",
    "SHOOTLOG_LIVE_DIRECTOR_SECRETS",
    "SHOOTLOG_STILL_UPLOADER_SECRETS",
    "SHOOTLOG_ALLOW_UNAUTHENTICATED",
];

/// Runs the `shootlog` binary with `args` and `env` (and no credentials from
/// the caller's environment) until it exits, within 30 s; its exit status,
/// stdout and stderr.
pub async fn run_to_exit(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_shootlog"));
    cmd.args(args)
        .env_remove("CONVEX_URL")
        .env_remove("CONVEX_DEPLOY_KEY")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for var in CREDENTIAL_VARS {
        cmd.env_remove(var);
    }
    cmd.envs(env.iter().copied());
    let child = cmd.spawn().expect("start shootlog");
    tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("shootlog did not exit within 30 s")
        .expect("wait for shootlog")
}
