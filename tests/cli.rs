//! The command line as people type it, through the real binary: settings on
//! either side of a command, each command's help, `replay`'s progress (off,
//! and on a pseudo-terminal), summary and exit status, and `token`'s formats
//! for provisioning scripts.

mod common;

use std::io::Read;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use assert_cmd::cargo::cargo_bin_cmd;
use common::{CREDENTIAL_VARS, Options, STANDIN_ADMIN_KEY, Server, Standin};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

const BIN: &str = env!("CARGO_BIN_EXE_shootlog");

/// The binary with none of the caller's settings: no ledger, credentials,
/// data dir or listen address from the environment.
fn shootlog() -> assert_cmd::Command {
    let mut cmd = cargo_bin_cmd!("shootlog");
    for var in CREDENTIAL_VARS.iter().chain(SETTING_VARS) {
        cmd.env_remove(var);
    }
    cmd.env("RUST_LOG", "info").timeout(Duration::from_secs(120));
    cmd
}

const SETTING_VARS: &[&str] = &[
    "CONVEX_URL",
    "CONVEX_DEPLOY_KEY",
    "SHOOTLOG_LISTEN",
    "SHOOTLOG_DATA_DIR",
    "SHOOTLOG_LOG_FORMAT",
    "SHOOTLOG_PROGRESS",
    "SHOOTLOG_BATCH_SIZE",
];

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs `shootlog` with `args` on a blocking thread; its output.
async fn run(args: Vec<String>) -> std::process::Output {
    tokio::task::spawn_blocking(move || shootlog().args(&args).output().expect("run shootlog")).await.expect("join")
}

fn strs(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

// ---------------------------------------------------------------- help

fn help(args: &[&str]) -> String {
    let out = shootlog().args(args).arg("--help").output().expect("help");
    assert!(out.status.success(), "{args:?} --help: {}", text(&out.stderr));
    text(&out.stdout)
}

#[test]
fn each_command_s_help_lists_the_settings_it_uses_with_their_variables() {
    let serve = help(&["serve"]);
    let replay = help(&["replay"]);
    let token = help(&["token"]);
    let openapi = help(&["openapi"]);
    let top = help(&[]);

    for (flag, var) in [
        ("--listen", "SHOOTLOG_LISTEN"),
        ("--data-dir", "SHOOTLOG_DATA_DIR"),
        ("--convex-url", "CONVEX_URL"),
        ("--convex-deploy-key", "CONVEX_DEPLOY_KEY"),
        ("--admin-token", "SHOOTLOG_ADMIN_TOKEN"),
        ("--max-backlog", "SHOOTLOG_MAX_BACKLOG"),
        ("--log-format", "SHOOTLOG_LOG_FORMAT"),
    ] {
        for (name, h) in [("serve", &serve), ("shootlog", &top)] {
            assert!(h.contains(flag), "{name} --help lacks {flag}:\n{h}");
            assert!(h.contains(&format!("[env: {var}")), "{name} --help lacks {var}:\n{h}");
        }
    }
    for heading in ["HTTP:", "Journal:", "Ledger:", "Credentials:", "Logging:"] {
        assert!(serve.contains(heading), "serve --help lacks {heading}:\n{serve}");
    }

    // replay: the journal, the ledger, logs; nothing of the HTTP service.
    for (flag, var) in [
        ("--data-dir", "SHOOTLOG_DATA_DIR"),
        ("--convex-url", "CONVEX_URL"),
        ("--convex-deploy-key", "CONVEX_DEPLOY_KEY"),
        ("--ledger-timeout-secs", "SHOOTLOG_LEDGER_TIMEOUT_SECS"),
        ("--batch-size", "SHOOTLOG_BATCH_SIZE"),
        ("--log-format", "SHOOTLOG_LOG_FORMAT"),
        ("--progress", "SHOOTLOG_PROGRESS"),
    ] {
        assert!(replay.contains(flag), "replay --help lacks {flag}:\n{replay}");
        assert!(replay.contains(&format!("[env: {var}")), "replay --help lacks {var}:\n{replay}");
    }
    assert!(replay.contains("--session"), "{replay}");
    assert!(replay.contains("Exit status:") && replay.contains("3    the ledger rejected"), "{replay}");
    for absent in ["--listen", "--admin-token", "--max-backlog", "--device-rate", "--retention-hours"] {
        assert!(!replay.contains(absent), "replay --help lists {absent}:\n{replay}");
    }

    // token and openapi: no settings at all.
    assert!(token.contains("--device") && token.contains("--format"), "{token}");
    for value in ["- text:", "- json:", "- env:"] {
        assert!(token.contains(value), "{token}");
    }
    for (name, h) in [("token", &token), ("openapi", &openapi)] {
        for absent in ["--listen", "--data-dir", "--convex-url", "[env:"] {
            assert!(!h.contains(absent), "{name} --help lists {absent}:\n{h}");
        }
    }
    // The top level names the commands and says settings go on either side.
    for c in ["serve", "openapi", "replay", "token"] {
        assert!(top.contains(c), "{top}");
    }
    assert!(top.contains("before or after the command"), "{top}");
}

#[test]
fn a_setting_a_command_does_not_use_is_refused_after_it_and_named_before_it() {
    let out = shootlog().args(["token", "--device", "ipad-a", "--listen", "0.0.0.0:1"]).output().expect("run");
    assert_eq!(out.status.code(), Some(2), "a usage error");
    assert!(text(&out.stderr).contains("unexpected argument '--listen'"), "{}", text(&out.stderr));

    let dir = tempfile::tempdir().expect("tempdir");
    let out = shootlog()
        .arg("--data-dir")
        .arg(dir.path())
        .args(["token", "--device", "ipad-a", "--format", "json"])
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("warning: `shootlog token` does not use --data-dir; ignored"));
    let v: Value = serde_json::from_slice(&out.stdout).expect("stdout is only the JSON");
    assert_eq!(v["deviceId"], "ipad-a");
}

// ---------------------------------------------------------------- serve

/// Starts the binary with exactly `args`; its base URL once it listens.
async fn listening(args: &[&str], dir: &Path) -> (tokio::process::Child, String) {
    let mut cmd = tokio::process::Command::new(BIN);
    for var in CREDENTIAL_VARS.iter().chain(SETTING_VARS) {
        cmd.env_remove(var);
    }
    let log = std::fs::File::create(dir.join("server.log")).expect("log");
    let mut child = cmd
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        .kill_on_drop(true)
        .spawn()
        .expect("start shootlog");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let url = tokio::time::timeout(Duration::from_secs(60), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(url) = line.strip_prefix("SHOOTLOG_LISTENING=") {
                return url.trim().to_string();
            }
        }
        panic!("{args:?} exited: {}", std::fs::read_to_string(dir.join("server.log")).unwrap_or_default())
    })
    .await
    .expect("listening within 60 s");
    (child, url)
}

#[tokio::test]
async fn serve_takes_its_settings_before_or_after_the_command_or_without_it() {
    let client = common::client();
    for order in ["after", "before", "bare"] {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("data");
        let data = data.to_str().expect("utf-8 path");
        let settings = ["--listen", "127.0.0.1:0", "--data-dir", data, "--log-format", "json"];
        let args: Vec<&str> = match order {
            "after" => ["serve"].iter().chain(&settings).copied().collect(),
            "before" => settings.iter().chain(&["serve"]).copied().collect(),
            _ => settings.to_vec(),
        };
        let (mut child, base) = listening(&args, dir.path()).await;
        let v: Value = client.get(format!("{base}/version")).send().await.expect("GET").json().await.expect("json");
        assert_eq!(v["journal"]["path"], format!("{data}/journal.sqlite3"), "{order}: {v:#}");
        let _ = child.kill().await;
        let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default();
        let first = log.lines().next().unwrap_or("");
        assert!(serde_json::from_str::<Value>(first).is_ok(), "{order}: --log-format json applies: {first}");
    }
}

// ---------------------------------------------------------------- token

#[test]
fn token_json_and_env_give_a_script_the_token_and_the_file_line() {
    let out = shootlog().args(["token", "--device", "ipad-a", "--format", "json"]).output().expect("run");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert_eq!(stdout.lines().count(), 1, "one line: {stdout}");
    let v: Value = serde_json::from_str(&stdout).expect("json");
    let keys: Vec<&str> = v.as_object().expect("object").keys().map(String::as_str).collect();
    assert_eq!(keys, ["deviceId", "token", "tokenFileLine"]);
    let token = v["token"].as_str().expect("token");
    assert_eq!(v["tokenFileLine"], format!("ipad-a {}", sha256_hex(token)));

    // env: sourced by a POSIX shell as it is.
    let out = shootlog()
        .args(["--log-format", "json", "token", "--device", "ipad-b", "--format", "env"])
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("device.env");
    std::fs::write(&file, &out.stdout).expect("write");
    let sourced = std::process::Command::new("sh")
        .arg("-c")
        .arg(r#"set -eu; . "$1"; printf '%s\n%s\n%s\n' "$SHOOTLOG_DEVICE_ID" "$SHOOTLOG_DEVICE_TOKEN" "$SHOOTLOG_DEVICE_TOKEN_FILE_LINE""#)
        .arg("sh")
        .arg(&file)
        .output()
        .expect("sh");
    assert!(sourced.status.success(), "{}", text(&sourced.stderr));
    let values = text(&sourced.stdout);
    let values: Vec<&str> = values.lines().collect();
    assert_eq!(values.len(), 3, "{values:?}");
    assert_eq!(values[0], "ipad-b");
    assert_eq!(values[2], format!("ipad-b {}", sha256_hex(values[1])));

    // text: for a person, as before.
    let out = shootlog().args(["token", "--device", "ipad-c"]).output().expect("run");
    let t = text(&out.stdout);
    assert!(t.starts_with("token for ipad-c (give it to the device"), "{t}");
    assert!(t.contains("line for SHOOTLOG_DEVICE_TOKENS_FILE:\n  ipad-c "), "{t}");

    // A bad device id is an error, not a token.
    let out = shootlog().args(["token", "--device", "not a device", "--format", "json"]).output().expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let out = shootlog().args(["token", "--device", "ipad-a", "--format", "yaml"]).output().expect("run");
    assert_eq!(out.status.code(), Some(2));
}

fn sha256_hex(s: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(s.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn a_script_provisions_devices_from_token_json_without_scraping() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut lines = String::new();
    let mut tokens = Vec::new();
    for device in ["ipad-a", "iphone-b"] {
        let out = run(strs(&["token", "--device", device, "--format", "json"])).await;
        assert!(out.status.success(), "{}", text(&out.stderr));
        let v: Value = serde_json::from_slice(&out.stdout).expect("json");
        lines.push_str(v["tokenFileLine"].as_str().expect("line"));
        lines.push('\n');
        tokens.push((device, v["token"].as_str().expect("token").to_string()));
    }
    let file = dir.path().join("device-tokens");
    std::fs::write(&file, lines).expect("write");
    let s = Server::start_with(Options {
        env: vec![
            ("SHOOTLOG_DEVICE_TOKENS_FILE".into(), file.display().to_string()),
            ("SHOOTLOG_ADMIN_TOKEN".into(), "an-admin-token-long-enough".into()),
        ],
        ..Options::default()
    })
    .await;
    for (device, token) in &tokens {
        let body = json!({"deviceId": device, "name": "Phone", "platform": "ios"});
        let auth = format!("Bearer {token}");
        let r = s.send(reqwest::Method::POST, "/v1/devices", &body, &[("authorization", &auth)]).await;
        assert_eq!(r.status, 202, "{device} registers with its token: {:#}", r.body);
    }
    // A device's token does not cover another device.
    let body = json!({"deviceId": "iphone-b", "name": "Phone", "platform": "ios"});
    let auth = format!("Bearer {}", tokens[0].1);
    let r = s.send(reqwest::Method::POST, "/v1/devices", &body, &[("authorization", &auth)]).await;
    assert_eq!(r.status, 403, "{:#}", r.body);
}

// ---------------------------------------------------------------- replay

const BIG: &str = "shoot-big";
const BAD: &str = "shoot-bad";
/// Markers journaled in the big session (plus the session itself).
const MARKERS: usize = 4000;
/// Markers journaled after the bad session's completion: the ledger rejects
/// them (`session_completed`; under contract 2 a cut to a missing camera
/// would wait instead).
const BAD_CUTS: usize = 5;

/// A journal, written with no ledger configured: a big session of markers,
/// and a small one, completed, then `bad_cuts` markers the ledger will
/// reject. All pending.
async fn journal_a_backlog(bad_cuts: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = Server::start_with(Options { data_dir: Some(dir.path().to_path_buf()), ..Options::default() }).await;
    for key in [BIG, BAD] {
        s.post("/v1/sessions", &json!({"sessionKey": key, "title": key})).await.assert_new_receipt("start_shoot");
    }
    for chunk in 0..MARKERS / 500 {
        let events: Vec<Value> =
            (0..500).map(|i| json!({"type": "marker", "label": format!("m{}", chunk * 500 + i)})).collect();
        let r = s.post(&format!("/v1/sessions/{BIG}/director-events"), &json!({"events": events})).await;
        assert_eq!(r.status, 202, "{:#}", r.body);
    }
    if bad_cuts > 0 {
        let r = s.post(&format!("/v1/sessions/{BAD}/complete"), &json!({})).await;
        assert_eq!(r.status, 202, "{:#}", r.body);
    }
    for i in 0..bad_cuts {
        let late = json!({"type": "marker", "label": format!("late {i}")});
        let r = s.post(&format!("/v1/sessions/{BAD}/director-events"), &late).await;
        assert_eq!(r.status, 202, "journaled; only the ledger knows the session is completed: {:#}", r.body);
    }
    let completion = usize::from(bad_cuts > 0);
    assert_eq!(s.backlog().await, (MARKERS + bad_cuts + completion + 2) as u64);
    assert!(s.stop().await.success());
    dir
}

/// The numbers of a summary line `replayed: D delivered, R rejected (A
/// applied, U duplicate) of T events in S s, N events/s`.
#[derive(Debug, PartialEq)]
struct Summary {
    delivered: u64,
    rejected: u64,
    applied: u64,
    duplicate: u64,
    total: u64,
    secs: f64,
    rate: f64,
}

fn summary(out: &str) -> Summary {
    let line = out.lines().find(|l| l.contains("replayed: ")).unwrap_or_else(|| panic!("no summary in {out:?}"));
    let line = &line[line.find("replayed: ").expect("prefix")..];
    let nums: Vec<f64> = line
        .split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .filter(|w| !w.is_empty() && *w != ".")
        .map(|w| w.parse().unwrap_or_else(|_| panic!("{w:?} in {line}")))
        .collect();
    assert_eq!(nums.len(), 7, "{line}");
    Summary {
        delivered: nums[0] as u64,
        rejected: nums[1] as u64,
        applied: nums[2] as u64,
        duplicate: nums[3] as u64,
        total: nums[4] as u64,
        secs: nums[5],
        rate: nums[6],
    }
}

#[tokio::test]
async fn replay_of_a_backlog_without_a_terminal_logs_plain_lines_and_exits_3_on_rejections() {
    let dir = journal_a_backlog(BAD_CUTS).await;
    let data = dir.path().to_str().expect("utf-8").to_string();
    let ledger = Standin::start().await;
    // Two starts, the bad session's completion, the markers, the late ones.
    let total = (MARKERS + BAD_CUTS + 3) as u64;

    // Settings on both sides of the command; stdout and stderr are pipes.
    let started = Instant::now();
    let out = run(vec![
        "--data-dir".into(),
        data.clone(),
        "replay".into(),
        "--convex-url".into(),
        ledger.url.clone(),
        "--convex-deploy-key".into(),
        STANDIN_ADMIN_KEY.into(),
    ])
    .await;
    let took = started.elapsed();
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(3), "some events were rejected\n{stdout}\n{stderr}");
    assert_eq!(stdout.lines().count(), 1, "stdout is the summary: {stdout}");
    let s = summary(&stdout);
    eprintln!("replay of {total} events, no terminal: {s:?}, {took:?} in all");
    assert_eq!(
        (s.delivered, s.rejected, s.applied, s.duplicate, s.total),
        (total - BAD_CUTS as u64, BAD_CUTS as u64, total - BAD_CUTS as u64, 0, total)
    );
    // Plain log lines, no terminal drawing.
    assert!(stderr.contains(&format!("replaying {total} events")), "{stderr}");
    let last = format!("replay progress: {total}/{total} events · ");
    assert!(stderr.contains(&last), "{stderr}");
    assert!(stderr.contains("ledger rejected event"), "each rejection is logged: {stderr}");
    assert!(!stderr.contains('\r') && !stderr.contains('\x1b'), "no bar drawn, no colours: {stderr:?}");

    // The ledger has the big session, all of it once.
    let big = ledger.session(BIG).await;
    assert_eq!(big["events"].as_array().map(Vec::len), Some(MARKERS));

    // Again, one session, with the settings before the command and progress
    // off: every event is a duplicate now, nothing is rejected: exit 0.
    let out = run(vec![
        "--data-dir".into(),
        data.clone(),
        "--convex-url".into(),
        ledger.url.clone(),
        "--convex-deploy-key".into(),
        STANDIN_ADMIN_KEY.into(),
        "replay".into(),
        "--session".into(),
        BIG.into(),
        "--progress".into(),
        "never".into(),
    ])
    .await;
    assert_eq!(out.status.code(), Some(0), "{}\n{}", text(&out.stdout), text(&out.stderr));
    let s = summary(&text(&out.stdout));
    assert_eq!((s.delivered, s.rejected, s.applied, s.duplicate), ((MARKERS + 1) as u64, 0, 0, (MARKERS + 1) as u64));
}

#[tokio::test]
async fn replay_errors_exit_1_and_usage_errors_exit_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().to_str().expect("utf-8").to_string();
    let out =
        run(strs(&["replay", "--data-dir", &data, "--convex-url", "http://127.0.0.1:9", "--convex-deploy-key", "k"]))
            .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("no journal at"), "{}", text(&out.stderr));
    assert!(!dir.path().join("journal.sqlite3").exists(), "replay does not create a journal");

    let out = run(strs(&["replay", "--data-dir", &data])).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("replay needs a ledger"), "{}", text(&out.stderr));

    let out = run(strs(&["replay", "--data-dir", &data, "--convex-url", "ftp://x"])).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("must start with http://"), "{}", text(&out.stderr));

    let out = run(strs(&["replay", "--sesion", "x"])).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
}

/// Runs `shootlog` on a pseudo-terminal (stdin, stdout and stderr); its exit
/// code and everything it wrote.
fn on_a_terminal(args: &[String]) -> (u32, String) {
    use portable_pty::{CommandBuilder, PtySize, native_pty_system};
    let pair = native_pty_system()
        .openpty(PtySize { rows: 40, cols: 120, pixel_width: 0, pixel_height: 0 })
        .expect("a pseudo-terminal");
    let mut cmd = CommandBuilder::new(BIN);
    cmd.args(args);
    for var in CREDENTIAL_VARS.iter().chain(SETTING_VARS) {
        cmd.env_remove(var);
    }
    cmd.env("TERM", "xterm-256color");
    cmd.env("RUST_LOG", "info");
    let mut child = pair.slave.spawn_command(cmd).expect("spawn on the pty");
    drop(pair.slave);
    let mut reader = pair.master.try_clone_reader().expect("pty reader");
    let drain = std::thread::spawn(move || {
        let mut buf = Vec::new();
        // Ends with EIO once the child has closed the terminal.
        let _ = reader.read_to_end(&mut buf);
        buf
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("shootlog {args:?} did not exit within 120 s on the terminal");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    drop(pair.master);
    let out = drain.join().expect("drain");
    (status.exit_code(), text(&out))
}

#[tokio::test]
async fn replay_on_a_terminal_draws_a_bar_then_prints_the_summary() {
    let dir = journal_a_backlog(0).await;
    let data = dir.path().to_str().expect("utf-8").to_string();
    let ledger = Standin::start().await;
    let args = vec![
        "replay".into(),
        "--data-dir".into(),
        data,
        "--convex-url".into(),
        ledger.url.clone(),
        "--convex-deploy-key".into(),
        STANDIN_ADMIN_KEY.into(),
    ];
    let started = Instant::now();
    let (code, out) = tokio::task::spawn_blocking(move || on_a_terminal(&args)).await.expect("join");
    let took = started.elapsed();
    let events = (MARKERS + 2) as u64;
    assert_eq!(code, 0, "{out}");
    let s = summary(&out);
    eprintln!("replay of {events} events on a terminal: {s:?}, {took:?} in all");
    assert_eq!((s.delivered, s.rejected, s.applied, s.duplicate, s.total), (events, 0, events, 0, events));
    // The bar: redrawn in place, with the counts, the rate and the time left.
    assert!(out.contains("\x1b[2K") || out.contains('\r'), "drawn in place: {out:?}");
    assert!(out.contains("replay [") && out.contains(&format!("/{events} events")), "{out:?}");
    assert!(out.contains(" sent, ") && out.contains(" applied, ") && out.contains(" duplicate, "), "{out:?}");
    assert!(out.contains(" rejected · ") && out.contains(" events/s, "), "{out:?}");
    assert!(!out.contains("replay progress:"), "no plain progress lines on a terminal: {out:?}");
    let big = ledger.session(BIG).await;
    assert_eq!(big["events"].as_array().map(Vec::len), Some(MARKERS));
}

#[tokio::test]
async fn an_interrupted_replay_exits_130_with_what_it_did_and_what_is_left() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = Server::start_with(Options { data_dir: Some(dir.path().to_path_buf()), ..Options::default() }).await;
    s.post("/v1/sessions", &json!({"sessionKey": "shoot-x", "title": "X"})).await.assert_new_receipt("start_shoot");
    assert!(s.stop().await.success());
    // A ledger nobody answers: replay retries until it is stopped.
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let child = std::process::Command::new(BIN)
        .args(["replay", "--progress", "never", "--ledger-timeout-secs", "1", "--data-dir"])
        .arg(dir.path())
        .arg("--convex-url")
        .arg(format!("http://127.0.0.1:{port}"))
        .args(["--convex-deploy-key", "k"])
        .env_remove("CONVEX_URL")
        .env_remove("CONVEX_DEPLOY_KEY")
        .env("RUST_LOG", "info,convex=off")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start replay");
    tokio::time::sleep(Duration::from_secs(2)).await;
    common::signal(child.id(), "TERM");
    let out = tokio::task::spawn_blocking(move || child.wait_with_output()).await.expect("join").expect("wait");
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(130), "{stdout}\n{stderr}");
    assert!(stdout.starts_with("replay interrupted: 0 delivered, 0 rejected"), "{stdout}");
    assert!(stdout.trim_end().ends_with("; 1 still pending"), "{stdout}");
    assert!(stderr.contains("ledger unreachable"), "{stderr}");
}
