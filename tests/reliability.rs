//! Reliability: nothing acknowledged is ever lost or doubled — through
//! SIGKILLs, a ledger outage, torn and foreign journal files, backpressure,
//! a graceful shutdown under load, poison events and compaction.
//!
//! Every scenario runs the real binary on loopback with a real SQLite
//! journal and, where a ledger is involved, the project's Convex stand-in.
//! Figures are printed; run with `--nocapture` to see them.

mod common;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use common::{Options, Server, Standin, eventually};
use serde_json::{Value, json};
use uuid::Uuid;

const WAIT: [(&str, &str); 1] = [("prefer", "wait=20")];

/// Per-caller rate limits high enough that a load test measures the
/// journal, not the limiter.
fn load_env(extra: &[(&str, &str)]) -> Vec<(String, String)> {
    [("SHOOTLOG_DEVICE_RATE", "100000"), ("SHOOTLOG_DEVICE_BURST", "100000")]
        .iter()
        .chain(extra)
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn http() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(15)).build().expect("client")
}

/// One request of a client: a marker, or a batch of markers, with ids the
/// client chose.
#[derive(Clone)]
struct Item {
    body: Value,
    ids: Vec<String>,
    labels: Vec<String>,
}

fn single(label: String) -> Item {
    let id = Uuid::new_v4().to_string();
    Item { body: json!({"type": "marker", "eventId": id, "label": label}), ids: vec![id], labels: vec![label] }
}

fn batch(labels: Vec<String>) -> Item {
    let ids: Vec<String> = labels.iter().map(|_| Uuid::new_v4().to_string()).collect();
    let events: Vec<Value> =
        ids.iter().zip(&labels).map(|(id, l)| json!({"type": "marker", "eventId": id, "label": l})).collect();
    Item { body: json!({ "events": events }), ids, labels }
}

/// The ids a 2xx answer acknowledged, in request order.
fn receipt_ids(body: &Value) -> Vec<String> {
    match body["events"].as_array() {
        Some(events) => events.iter().map(|e| e["eventId"].as_str().unwrap_or("").to_string()).collect(),
        None => vec![body["eventId"].as_str().unwrap_or("").to_string()],
    }
}

async fn create_session(s: &Server, sk: &str, ledger: bool) {
    let r = s.send(reqwest::Method::POST, "/v1/sessions", &json!({"sessionKey": sk, "title": sk}), &WAIT).await;
    assert_eq!(r.status, if ledger { 201 } else { 202 }, "{:#}", r.body);
}

/// The labels and event ids of a session in the ledger, in ledger order.
async fn ledger_events(standin: &Standin, sk: &str) -> Vec<(String, String)> {
    let l = standin.session(sk).await;
    l["events"]
        .as_array()
        .expect("ledger events")
        .iter()
        .map(|e| (e["eventId"].as_str().unwrap_or("").to_string(), e["label"].as_str().unwrap_or("").to_string()))
        .collect()
}

fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

async fn drained(s: &Server, secs: u64) {
    eventually(secs, "the backlog to drain", || async {
        let r = s.get("/readyz").await;
        (r.body["backlog"] == 0 && r.body["ledger"] == "connected").then_some(())
    })
    .await;
}

/// Sends one item until the service acknowledges it (2xx), following the
/// service to its current address, as a flaky phone would. Returns the
/// number of attempts.
async fn send_until_acked(
    client: &reqwest::Client,
    base: &RwLock<String>,
    sk: &str,
    item: &Item,
    deadline: Instant,
) -> u32 {
    let mut attempts = 0;
    loop {
        attempts += 1;
        let url = format!("{}/v1/sessions/{sk}/director-events", base.read().unwrap());
        if let Ok(res) = client.post(url).json(&item.body).send().await {
            let status = res.status().as_u16();
            let body: Option<Value> = res.json().await.ok();
            match (status, body) {
                (200..=299, Some(body)) => {
                    assert_eq!(receipt_ids(&body), item.ids, "the receipt names the ids");
                    return attempts;
                }
                (200..=299, None) | (408 | 429 | 500..=599, _) => {}
                (_, body) => panic!("a retry must never be refused: {status} {body:?}"),
            }
        }
        assert!(Instant::now() < deadline, "item not acknowledged in time after {attempts} attempts");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn check_exact(
    scenario: &str,
    sent: &HashMap<String, Vec<(String, String)>>,
    acked: &HashSet<String>,
    ledger: &HashMap<String, Vec<(String, String)>>,
) {
    let sent_ids: HashSet<&String> = sent.values().flatten().map(|(id, _)| id).collect();
    let in_ledger: Vec<&String> = ledger.values().flatten().map(|(id, _)| id).collect();
    let unique: HashSet<&String> = in_ledger.iter().copied().collect();
    let duplicates = in_ledger.len() - unique.len();
    let lost = acked.iter().filter(|id| !unique.contains(id)).count();
    let unsent = unique.iter().filter(|id| !sent_ids.contains(*id)).count();
    println!(
        "[{scenario}] sent {} events, acknowledged {}, in ledger {} ({} distinct), duplicates {duplicates}, lost {lost}, never sent {unsent}",
        sent_ids.len(),
        acked.len(),
        in_ledger.len(),
        unique.len()
    );
    assert_eq!(duplicates, 0, "no event twice in the ledger");
    assert_eq!(lost, 0, "every acknowledged event is in the ledger");
    assert_eq!(unsent, 0, "nothing in the ledger that was never sent");
    let acked_ref: HashSet<&String> = acked.iter().collect();
    assert_eq!(unique, acked_ref, "the ledger holds exactly the acknowledged events");
    for (sk, events) in sent {
        let expected: Vec<&(String, String)> = events.iter().filter(|(id, _)| acked.contains(id)).collect();
        let got: Vec<&(String, String)> = ledger[sk].iter().collect();
        assert_eq!(got, expected, "session {sk}: in the order the client sent them");
    }
}

/// A client's plan: markers as singles and batches of `batch_size`.
fn plan(worker: usize, items: usize, batch_size: usize) -> Vec<Item> {
    let mut n = 0;
    let mut label = || {
        n += 1;
        format!("w{worker}-{n}")
    };
    (0..items)
        .map(|j| if j % 3 == 0 { batch((0..batch_size).map(|_| label()).collect()) } else { single(label()) })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_load_loses_and_doubles_nothing() {
    let started = Instant::now();
    let standin = Standin::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let opts =
        Options { data_dir: Some(dir.path().to_path_buf()), convex_url: Some(standin.url.clone()), env: load_env(&[]) };
    let mut server = Server::start_with(opts.clone()).await;
    const WORKERS: usize = 4;
    let sessions: Vec<String> = (0..WORKERS).map(|w| format!("crash-{w}")).collect();
    for sk in &sessions {
        create_session(&server, sk, true).await;
    }

    let plans: Vec<Vec<Item>> = (0..WORKERS).map(|w| plan(w, 90, 20)).collect();
    let total: usize = plans.iter().flatten().map(|i| i.ids.len()).sum();
    let base = Arc::new(RwLock::new(server.base.clone()));
    let progress = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(45);
    let mut tasks = Vec::new();
    for (w, items) in plans.iter().cloned().enumerate() {
        let (base, progress, sk) = (base.clone(), progress.clone(), sessions[w].clone());
        tasks.push(tokio::spawn(async move {
            let client = http();
            let mut attempts = 0;
            for item in &items {
                attempts += send_until_acked(&client, &base, &sk, item, deadline).await;
                progress.fetch_add(item.ids.len(), Ordering::SeqCst);
            }
            attempts
        }));
    }

    let mut kills = 0;
    for share in [15, 35, 55, 75] {
        let at = total * share / 100;
        eventually(40, "the clients to make progress", || async {
            (progress.load(Ordering::SeqCst) >= at).then_some(())
        })
        .await;
        server.kill().await;
        kills += 1;
        server = Server::start_with(opts.clone()).await;
        *base.write().unwrap() = server.base.clone();
    }
    let mut attempts = 0;
    for t in tasks {
        attempts += t.await.expect("client task");
    }
    let requests: usize = plans.iter().map(Vec::len).sum();
    drained(&server, 40).await;

    let mut sent = HashMap::new();
    let mut ledger = HashMap::new();
    for (w, items) in plans.iter().enumerate() {
        let events: Vec<(String, String)> =
            items.iter().flat_map(|i| i.ids.iter().cloned().zip(i.labels.iter().cloned())).collect();
        sent.insert(sessions[w].clone(), events);
        ledger.insert(sessions[w].clone(), ledger_events(&standin, &sessions[w]).await);
    }
    // The clients never give up, so everything sent was acknowledged.
    let acked: HashSet<String> = sent.values().flatten().map(|(id, _)| id.clone()).collect();
    println!(
        "[crash] {kills} SIGKILLs, {requests} requests, {attempts} attempts ({} retries), runtime {:.1} s",
        attempts as usize - requests,
        started.elapsed().as_secs_f64()
    );
    check_exact("crash", &sent, &acked, &ledger);
    assert_eq!(acked.len(), total);
    assert!(attempts as usize > requests, "the kills forced retries");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ledger_outage_under_load_loses_and_doubles_nothing() {
    let started = Instant::now();
    let mut standin = Standin::start().await;
    let server =
        Server::start_with(Options { convex_url: Some(standin.url.clone()), env: load_env(&[]), ..Options::default() })
            .await;
    const WORKERS: usize = 4;
    let sessions: Vec<String> = (0..WORKERS).map(|w| format!("outage-{w}")).collect();
    for sk in &sessions {
        create_session(&server, sk, true).await;
    }
    let stop = Arc::new(AtomicBool::new(false));
    let progress = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for (w, sk) in sessions.iter().cloned().enumerate() {
        let (stop, progress, url) =
            (stop.clone(), progress.clone(), server.url(&format!("/v1/sessions/{sk}/director-events")));
        tasks.push(tokio::spawn(async move {
            let client = http();
            let mut sent: Vec<(String, String)> = Vec::new();
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) && n < 2000 {
                let item = if n % 30 == 0 {
                    batch((n..n + 10).map(|i| format!("w{w}-{i}")).collect())
                } else {
                    single(format!("w{w}-{n}"))
                };
                n += item.ids.len();
                let res = client.post(&url).json(&item.body).send().await;
                let res = res.expect("the service answers while the ledger is down");
                let status = res.status().as_u16();
                let body: Value = res.json().await.expect("body");
                assert_eq!(status, 202, "accepted into the journal: {body:#}");
                assert_eq!(receipt_ids(&body), item.ids);
                sent.extend(item.ids.into_iter().zip(item.labels));
                progress.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(3)).await;
            }
            (sk, sent)
        }));
    }
    let at_least = |n: usize| {
        let progress = progress.clone();
        async move {
            eventually(30, "the clients to make progress", || async {
                (progress.load(Ordering::SeqCst) >= n).then_some(())
            })
            .await
        }
    };
    at_least(150).await;
    standin.kill().await;
    let down = eventually(20, "readyz to show the ledger down", || async {
        let r = server.get("/readyz").await;
        (r.body["ledger"] == "unreachable").then_some(r)
    })
    .await;
    assert_eq!(down.status, 200, "the journal still takes writes");
    let first = down.body["backlog"].as_u64().unwrap();
    let now = progress.load(Ordering::SeqCst);
    at_least(now + 200).await;
    let later = server.get("/readyz").await;
    assert_eq!(later.body["ledger"], "unreachable");
    let second = later.body["backlog"].as_u64().unwrap();
    assert!(second > first, "the backlog grows: {first} then {second}");
    let m = server.get("/metrics").await;
    let text = m.body.as_str().expect("metrics text");
    assert_eq!(metric(text, "shootlog_ledger_connected"), Some(0.0));
    let backlog = metric(text, "shootlog_journal_backlog").expect("backlog gauge");
    assert!(backlog >= second as f64, "gauge {backlog} vs readyz {second}");
    println!("[outage] backlog while the ledger is down: {first} then {second} (gauge {backlog})");

    standin.start_again().await;
    let now = progress.load(Ordering::SeqCst);
    at_least(now + 150).await;
    stop.store(true, Ordering::SeqCst);
    let mut sent = HashMap::new();
    for t in tasks {
        let (sk, events) = t.await.expect("client task");
        sent.insert(sk, events);
    }
    drained(&server, 45).await;
    let mut ledger = HashMap::new();
    for sk in &sessions {
        ledger.insert(sk.clone(), ledger_events(&standin, sk).await);
    }
    let acked: HashSet<String> = sent.values().flatten().map(|(id, _)| id.clone()).collect();
    println!("[outage] runtime {:.1} s", started.elapsed().as_secs_f64());
    check_exact("outage", &sent, &acked, &ledger);
    assert!(acked.len() >= 1000, "a heavy load: {}", acked.len());
}

fn wal_path(dir: &Path) -> std::path::PathBuf {
    dir.join("journal.sqlite3-wal")
}

async fn post_markers(s: &Server, sk: &str, labels: Vec<String>) -> Vec<String> {
    let item = batch(labels);
    let r = s.post(&format!("/v1/sessions/{sk}/director-events"), &item.body).await;
    assert_eq!(r.status, 202, "{:#}", r.body);
    item.ids
}

async fn assert_pending(s: &Server, ids: &[String]) {
    for id in ids {
        let r = s.get(&format!("/v1/events/{id}")).await;
        assert_eq!(r.status, 200, "acknowledged event {id} survives: {:#}", r.body);
        assert_eq!(r.body["status"], "pending");
    }
}

#[tokio::test]
async fn a_torn_wal_tail_keeps_every_committed_entry() {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = Options { data_dir: Some(dir.path().to_path_buf()), ..Options::default() };
    let sk = "torn";
    let s = Server::start_with(opts.clone()).await;
    create_session(&s, sk, false).await;
    let mut acked = post_markers(&s, sk, (0..40).map(|i| format!("m{i}")).collect()).await;
    acked.extend(post_markers(&s, sk, (40..60).map(|i| format!("m{i}")).collect()).await);
    let intact = std::fs::metadata(wal_path(dir.path())).expect("wal").len();
    // The write whose tail will be torn, as if the machine died mid-fsync.
    let torn = post_markers(&s, sk, vec!["torn".into()]).await;
    let full = std::fs::metadata(wal_path(dir.path())).expect("wal").len();
    s.kill().await;
    let cut = full - 300;
    assert!(cut > intact, "the last commit wrote {} bytes of WAL", full - intact);
    let f = std::fs::OpenOptions::new().write(true).open(wal_path(dir.path())).expect("open wal");
    f.set_len(cut).expect("truncate wal");
    drop(f);
    println!("[torn] WAL {full} bytes, cut to {cut} (intact prefix {intact})");

    let s = Server::start_with(opts.clone()).await;
    assert_pending(&s, &acked).await;
    let r = s.get("/readyz").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["backlog"], 61, "the session and 60 markers, not the torn commit");
    let r = s.get(&format!("/v1/events/{}", torn[0])).await;
    assert_eq!(r.status, 404, "the torn transaction is discarded whole");
    // The journal keeps working after the repair, and through a clean stop.
    let after = post_markers(&s, sk, vec!["after".into()]).await;
    let status = s.stop().await;
    assert!(status.success(), "exit {status:?}");
    let s = Server::start_with(opts).await;
    assert_pending(&s, &acked).await;
    assert_pending(&s, &after).await;
    assert_eq!(s.get("/readyz").await.body["backlog"], 62);
    s.kill().await;
}

#[tokio::test]
async fn garbage_after_the_wal_keeps_every_committed_entry() {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = Options { data_dir: Some(dir.path().to_path_buf()), ..Options::default() };
    let sk = "garbage";
    let s = Server::start_with(opts.clone()).await;
    create_session(&s, sk, false).await;
    let acked = post_markers(&s, sk, (0..30).map(|i| format!("m{i}")).collect()).await;
    s.kill().await;
    let mut wal = std::fs::read(wal_path(dir.path())).expect("wal");
    let before = wal.len();
    let mut x: u32 = 0x9e37_79b9;
    wal.extend((0..5000).map(|_| {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        x as u8
    }));
    std::fs::write(wal_path(dir.path()), &wal).expect("write wal");
    println!("[garbage] WAL {before} bytes + 5000 bytes of garbage");
    let s = Server::start_with(opts).await;
    assert_pending(&s, &acked).await;
    assert_eq!(s.get("/readyz").await.body["backlog"], 31);
    s.kill().await;
}

/// Runs the binary on a data dir that must be refused; returns stderr.
async fn refused(dir: &Path) -> String {
    let out = tokio::time::timeout(
        Duration::from_secs(30),
        tokio::process::Command::new(env!("CARGO_BIN_EXE_shootlog"))
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(dir)
            .env_remove("CONVEX_URL")
            .env_remove("CONVEX_DEPLOY_KEY")
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the service refuses promptly")
    .expect("run shootlog");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success(), "must not start: {stderr}");
    assert!(!stdout.contains("SHOOTLOG_LISTENING"), "must not listen: {stdout}");
    stderr
}

#[tokio::test]
async fn a_file_that_is_not_sqlite_is_refused_by_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("journal.sqlite3");
    let bytes: Vec<u8> = (0..8192u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    std::fs::write(&path, &bytes).expect("write");
    let stderr = refused(dir.path()).await;
    assert!(stderr.contains("is not a shootlog journal"), "clear message: {stderr}");
    assert!(stderr.contains(&path.display().to_string()), "names the file: {stderr}");
    assert_eq!(std::fs::read(&path).expect("read"), bytes, "the file is left as it was");
}

#[tokio::test]
async fn a_sqlite_database_of_another_application_is_refused() {
    for app_id in [0x1234_5678_i32, 0] {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("journal.sqlite3");
        {
            let c = rusqlite::Connection::open(&path).expect("sqlite");
            c.pragma_update(None, "application_id", app_id).expect("app id");
            c.execute_batch(
                "CREATE TABLE photos (id INTEGER PRIMARY KEY, name TEXT);
                 INSERT INTO photos (name) VALUES ('keep me');",
            )
            .expect("schema");
        }
        let stderr = refused(dir.path()).await;
        assert!(stderr.contains("is not a shootlog journal"), "clear message: {stderr}");
        assert!(stderr.contains("application_id"), "names it: {stderr}");
        assert!(stderr.contains(&format!("{app_id:#x}")), "shows the id: {stderr}");
        let c = rusqlite::Connection::open(&path).expect("sqlite");
        let tables: Vec<String> = c
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(tables, ["photos"], "the other application's file is untouched");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_journal_answers_503_and_takes_nothing_beyond_its_limit() {
    let s = Arc::new(
        Server::start_with(Options { env: load_env(&[("SHOOTLOG_MAX_BACKLOG", "50")]), ..Options::default() }).await,
    );
    let sk = "full";
    let url = s.url(&format!("/v1/sessions/{sk}/director-events"));
    // Many concurrent writers race for the last places.
    let mut tasks = Vec::new();
    for w in 0..16 {
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let client = http();
            let (mut acked, mut refused) = (Vec::new(), 0);
            for i in 0..12 {
                let item = if i % 4 == 3 {
                    batch((0..3).map(|j| format!("w{w}-{i}-{j}")).collect())
                } else {
                    single(format!("w{w}-{i}"))
                };
                let res = client.post(&url).json(&item.body).send().await.expect("answer");
                let status = res.status().as_u16();
                let retry_after = res.headers().get("retry-after").cloned();
                let ct = res.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
                let body: Value = res.json().await.expect("body");
                match status {
                    202 => acked.extend(item.ids),
                    503 => {
                        refused += 1;
                        assert_eq!(ct, "application/problem+json");
                        assert_eq!(body["code"], "unavailable", "{body:#}");
                        let secs: u64 = retry_after.expect("Retry-After").to_str().unwrap().parse().expect("seconds");
                        assert!(secs >= 1);
                    }
                    other => panic!("unexpected {other}: {body:#}"),
                }
            }
            (acked, refused)
        }));
    }
    let (mut acked, mut refusals) = (Vec::new(), 0);
    for t in tasks {
        let (a, r) = t.await.expect("task");
        acked.extend(a);
        refusals += r;
    }
    // Fill the last places, if the race left any, one at a time.
    for i in 0..60 {
        let item = single(format!("fill-{i}"));
        let r = s.post(&format!("/v1/sessions/{sk}/director-events"), &item.body).await;
        if r.status == 503 {
            refusals += 1;
            break;
        }
        assert_eq!(r.status, 202, "{:#}", r.body);
        acked.extend(item.ids);
    }
    println!("[backpressure] limit 50: acknowledged {}, refused requests {refusals}", acked.len());
    let ready = s.get("/readyz").await;
    assert_eq!(ready.status, 200, "reads still work: {:#}", ready.body);
    assert_eq!(ready.body["backlog"], 50, "nothing beyond the limit is journaled");
    assert_eq!(acked.len(), 50, "exactly the limit was acknowledged");
    let journal = s.journal(sk).await;
    let journaled: HashSet<String> = journal.iter().map(|e| e["eventId"].as_str().unwrap().to_string()).collect();
    assert_eq!(journaled, acked.iter().cloned().collect::<HashSet<_>>());
    let r = s.get(&format!("/v1/events/{}", acked[0])).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["status"], "pending");
    // A retry of an acknowledged write is still answered from the journal.
    let r = s
        .post(
            &format!("/v1/sessions/{sk}/director-events"),
            &json!({"type": "marker", "eventId": acked[0], "label": label_of(&journal, &acked[0])}),
        )
        .await;
    assert_eq!(r.status, 202, "{:#}", r.body);
    assert_eq!(r.header("idempotent-replayed"), Some("true"));
    let r = s.post(&format!("/v1/sessions/{sk}/director-events"), &single("late".into()).body).await;
    r.assert_problem(503, "unavailable");
    assert!(r.header("retry-after").is_some());
    assert_eq!(s.get("/readyz").await.body["backlog"], 50);
}

fn label_of(journal: &[Value], id: &str) -> String {
    let e = journal.iter().find(|e| e["eventId"] == id).expect("journaled");
    e["event"]["label"].as_str().or_else(|| e["label"].as_str()).expect("label").to_string()
}

fn memory_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("memory field")
    };
    (field("VmHWM:"), field("VmRSS:"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_stays_bounded_under_a_flood_without_a_ledger() {
    let started = Instant::now();
    let s = Server::start_with(Options { env: load_env(&[]), ..Options::default() }).await;
    let (hwm0, rss0) = memory_kib(s.pid());
    let mut tasks = Vec::new();
    for w in 0..8 {
        let url = s.url(&format!("/v1/sessions/flood-{w}/director-events"));
        tasks.push(tokio::spawn(async move {
            let client = http();
            let mut acked = 0;
            for b in 0..25 {
                let item = batch((0..100).map(|i| format!("w{w}-{b}-{i}")).collect());
                let res = client.post(&url).json(&item.body).send().await.expect("answer");
                assert_eq!(res.status().as_u16(), 202);
                acked += item.ids.len();
            }
            acked
        }));
    }
    let mut acked = 0;
    for t in tasks {
        acked += t.await.expect("task");
    }
    let (hwm, rss) = memory_kib(s.pid());
    let ready = s.get("/readyz").await;
    assert_eq!(ready.body["backlog"], acked as u64);
    println!(
        "[memory] {acked} events in {:.1} s; VmHWM {} -> {} MiB, VmRSS {} -> {} MiB",
        started.elapsed().as_secs_f64(),
        hwm0 / 1024,
        hwm / 1024,
        rss0 / 1024,
        rss / 1024
    );
    assert_eq!(acked, 20_000);
    assert!(hwm < 200 * 1024, "peak RSS {hwm} KiB");
    s.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_a_burst_answers_every_request_and_keeps_every_ack() {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = Options { data_dir: Some(dir.path().to_path_buf()), env: load_env(&[]), ..Options::default() };
    let s = Server::start_with(opts.clone()).await;
    let base = s.base.clone();
    let signalled = Arc::new(AtomicBool::new(false));
    let progress = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for w in 0..16 {
        let url = format!("{base}/v1/sessions/term-{w}/director-events");
        let (signalled, progress) = (signalled.clone(), progress.clone());
        tasks.push(tokio::spawn(async move {
            let client = http();
            let (mut acked, mut unavailable, mut broken) = (Vec::new(), 0, Vec::new());
            for i in 0..2000 {
                let item = if i % 5 == 4 {
                    batch((0..5).map(|j| format!("w{w}-{i}-{j}")).collect())
                } else {
                    single(format!("w{w}-{i}"))
                };
                let after_signal = signalled.load(Ordering::SeqCst);
                match client.post(&url).json(&item.body).send().await {
                    Ok(res) => {
                        let status = res.status().as_u16();
                        let retry_after = res.headers().contains_key("retry-after");
                        match (status, res.json::<Value>().await) {
                            (202, Ok(_)) => {
                                acked.extend(item.ids);
                                progress.fetch_add(1, Ordering::SeqCst);
                            }
                            (503, Ok(body)) => {
                                assert!(retry_after, "503 carries Retry-After: {body:#}");
                                unavailable += 1;
                            }
                            (status, body) => broken.push(format!("{status}: {body:?}")),
                        }
                    }
                    Err(e) if e.is_connect() && after_signal => break,
                    Err(e) => broken.push(format!("{e:?}")),
                }
            }
            (acked, unavailable, broken)
        }));
    }
    eventually(30, "the burst to get going", || async { (progress.load(Ordering::SeqCst) >= 300).then_some(()) }).await;
    signalled.store(true, Ordering::SeqCst);
    let t0 = Instant::now();
    let status = s.stop().await;
    let stop_time = t0.elapsed();
    let (mut acked, mut unavailable, mut broken) = (Vec::new(), 0, Vec::new());
    for t in tasks {
        let (a, u, b) = t.await.expect("task");
        acked.extend(a);
        unavailable += u;
        broken.extend(b);
    }
    println!(
        "[sigterm] acknowledged {} events, 503 {unavailable}, broken {}, stopped in {:.2} s, {status:?}",
        acked.len(),
        broken.len(),
        stop_time.as_secs_f64()
    );
    assert!(status.success(), "clean exit: {status:?}");
    assert!(broken.is_empty(), "every request got an answer: {broken:#?}");
    let s = Server::start_with(opts).await;
    let ready = s.get("/readyz").await;
    assert_eq!(ready.body["backlog"], acked.len() as u64, "the journal holds exactly the acknowledged events");
    for id in &acked {
        let r = s.get(&format!("/v1/events/{id}")).await;
        assert_eq!(r.status, 200, "acknowledged {id} kept");
    }
    s.kill().await;
}

/// An event the ledger does not apply mid-batch (under contract 2 a cut to
/// a camera that never joined waits rather than being rejected) never
/// blocks the events behind it.
#[tokio::test]
async fn a_ledger_rejection_never_blocks_the_events_behind_it() {
    let standin = Standin::start().await;
    let s = Server::start_with(Options { convex_url: Some(standin.url.clone()), ..Options::default() }).await;
    let sk = "reject-mid";
    create_session(&s, sk, true).await;
    let r = s
        .send(
            reqwest::Method::POST,
            "/v1/devices",
            &json!({"deviceId": "cam-a", "name": "A", "platform": "ios"}),
            &WAIT,
        )
        .await;
    assert_eq!(r.status, 201, "{:#}", r.body);
    let r = s
        .send(
            reqwest::Method::POST,
            &format!("/v1/sessions/{sk}/cameras"),
            &json!({"deviceId": "cam-a", "cameraKey": "A", "role": "hero"}),
            &WAIT,
        )
        .await;
    assert_eq!(r.status, 201, "{:#}", r.body);
    let mut events: Vec<Value> = (0..5).map(|i| json!({"type": "marker", "label": format!("m{i}")})).collect();
    events.push(json!({"type": "cut", "cameraKey": "Z"}));
    events.extend((5..10).map(|i| json!({"type": "marker", "label": format!("m{i}")})));
    let r = s.post(&format!("/v1/sessions/{sk}/director-events"), &json!({ "events": events })).await;
    assert_eq!(r.status, 202, "{:#}", r.body);
    let cut = r.body["events"][5]["eventId"].as_str().unwrap().to_string();
    let later = single("m10".into());
    let r = s.post(&format!("/v1/sessions/{sk}/director-events"), &later.body).await;
    assert_eq!(r.status, 202);
    drained(&s, 30).await;
    let ev = s.get(&format!("/v1/events/{cut}")).await;
    assert_eq!(ev.body["status"], "waiting");
    assert_eq!(ev.body["verdict"]["code"], "camera_not_in_session");
    let ev = s.get(&format!("/v1/events/{}", later.ids[0])).await;
    assert_eq!(ev.body["status"], "delivered");
    let labels: Vec<String> = ledger_events(&standin, sk).await.into_iter().map(|(_, l)| l).collect();
    assert_eq!(labels, (0..=10).map(|i| format!("m{i}")).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_ledger_bug_on_one_event_is_isolated_and_the_queue_moves_on() {
    let started = Instant::now();
    let standin = Standin::start_with_env(&[("STANDIN_FAULT_THROW_ON", "poison")]).await;
    let s = Server::start_with(Options { convex_url: Some(standin.url.clone()), ..Options::default() }).await;
    let sk = "poison";
    create_session(&s, sk, true).await;
    let mut labels: Vec<String> = (0..20).map(|i| format!("m{i}")).collect();
    labels.insert(13, "poison".into());
    let first = batch(labels);
    let r = s.post(&format!("/v1/sessions/{sk}/director-events"), &first.body).await;
    assert_eq!(r.status, 202, "{:#}", r.body);
    let poison_id = first.ids[13].clone();
    let mut after = Vec::new();
    for i in 20..30 {
        let item = single(format!("m{i}"));
        let r = s.post(&format!("/v1/sessions/{sk}/director-events"), &item.body).await;
        assert_eq!(r.status, 202);
        after.extend(item.ids);
    }
    drained(&s, 40).await;
    let ev = s.get(&format!("/v1/events/{poison_id}")).await;
    assert_eq!(ev.body["status"], "rejected", "{:#}", ev.body);
    assert_eq!(ev.body["verdict"]["code"], "ledger_exception");
    assert!(ev.body["attempts"].as_u64().unwrap() >= 3, "retried before giving up: {:#}", ev.body);
    for id in first.ids.iter().filter(|id| **id != poison_id).chain(&after) {
        let ev = s.get(&format!("/v1/events/{id}")).await;
        assert_eq!(ev.body["status"], "delivered", "{:#}", ev.body);
    }
    let m = s.get("/metrics").await;
    assert_eq!(metric(m.body.as_str().unwrap(), "shootlog_events_isolated_total"), Some(1.0));
    let ledger = ledger_events(&standin, sk).await;
    let got: Vec<String> = ledger.iter().map(|(_, l)| l.clone()).collect();
    assert_eq!(
        got,
        (0..30).map(|i| format!("m{i}")).collect::<Vec<_>>(),
        "the good events, in order, the poison one not"
    );
    println!(
        "[poison] 31 sent, 30 applied, 1 isolated as ledger_exception after {} attempts, {:.1} s",
        ev_attempts(&s, &poison_id).await,
        started.elapsed().as_secs_f64()
    );
}

async fn ev_attempts(s: &Server, id: &str) -> u64 {
    s.get(&format!("/v1/events/{id}")).await.body["attempts"].as_u64().unwrap_or(0)
}

mod retention {
    use shootlog::domain::{Envelope, Event, EventId, Millis, SessionKey, Verdict, VerdictKind};
    use shootlog::journal::{Appended, Journal, JournalOptions, NewEntry, Status};

    fn entry(id: EventId, label: &str) -> NewEntry {
        NewEntry {
            envelope: Envelope {
                event_id: id,
                at: Millis(1_764_531_000_000),
                received_at: Millis::now(),
                event: Event::Marker { session_key: SessionKey::parse("retention").unwrap(), label: label.into() },
            },
            fingerprint: [7; 32],
        }
    }

    fn applied() -> Verdict {
        Verdict {
            verdict: VerdictKind::Applied,
            code: None,
            message: None,
            original: None,
            timeline: None,
            waiting_for: None,
            ledger_ids: Default::default(),
        }
    }

    fn rejected() -> Verdict {
        Verdict { verdict: VerdictKind::Rejected, code: Some("hold_not_open".into()), ..applied() }
    }

    #[tokio::test]
    async fn compaction_removes_only_settled_entries_older_than_the_cutoff() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.sqlite3");
        let j = Journal::open(&path, JournalOptions::default()).unwrap();
        let ids: Vec<EventId> = (0..6).map(|_| EventId::new_random()).collect();
        let appended = j.append(ids.iter().map(|id| entry(*id, "x")).collect()).await.unwrap();
        let seqs: Vec<i64> = appended.iter().map(|a| a.entry().seq).collect();
        // 0, 1 delivered; 2 rejected; 3, 4, 5 pending.
        j.settle(vec![(seqs[0], applied()), (seqs[1], applied()), (seqs[2], rejected())]).await.unwrap();
        let settled_at = j.get(ids[0]).await.unwrap().unwrap().settled_at.unwrap();

        // Within the window: nothing goes, and a replay still dedupes.
        assert_eq!(j.compact(Millis(settled_at.0 - 60_000)).await.unwrap(), 0);
        match &j.append(vec![entry(ids[0], "x")]).await.unwrap()[0] {
            Appended::Replay(e) => assert_eq!(e.status, Status::Delivered),
            other => panic!("expected a replay, got {other:?}"),
        }
        assert_eq!(j.depth().delivered, 2);

        // Past the window: the settled ones go, the pending ones never.
        let removed = j.compact(Millis(Millis::now().0 + 60_000)).await.unwrap();
        assert_eq!(removed, 3);
        for id in &ids[..3] {
            assert!(j.get(*id).await.unwrap().is_none());
        }
        for id in &ids[3..] {
            assert_eq!(j.get(*id).await.unwrap().unwrap().status, Status::Pending);
        }
        let d = j.depth();
        assert_eq!((d.pending, d.delivered, d.rejected), (3, 0, 0));
        let pending: Vec<EventId> = j.pending(0, 100).await.unwrap().iter().map(|e| e.envelope.event_id).collect();
        assert_eq!(pending, ids[3..]);
        // A compacted id is outside the window: it is journaled anew, with
        // a seq never used before.
        match &j.append(vec![entry(ids[0], "x")]).await.unwrap()[0] {
            Appended::New(e) => assert!(e.seq > seqs[5]),
            other => panic!("expected a new entry, got {other:?}"),
        }
        // Compaction never touches pending entries, however old the cutoff.
        assert_eq!(j.compact(Millis(i64::MAX)).await.unwrap(), 0);
        assert_eq!(j.depth().pending, 4);
        j.close().await;
        let j = Journal::open(&path, JournalOptions::default()).unwrap();
        assert_eq!(j.depth().pending, 4);
        j.close().await;
    }
}
