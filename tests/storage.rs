//! Storage faults through the real server: the journal at its size cap
//! (SQLite's `max_page_count`: a full database on any machine), below its
//! reserve with a ledger to drain into, on a 3 MiB tmpfs filled by another
//! file (where this process may mount one), a vanished data directory, a
//! read-only data directory at startup, and — through an `LD_PRELOAD` shim
//! (`tests/support/faultfs.c`, where a C compiler is at hand) — a file system
//! gone read-only, an I/O error, `ENOSPC` and a failed fsync.
//!
//! Each refusal is a 503 problem of its own type with `Retry-After`;
//! `/readyz` is 503 with the reason during, and 200 again by itself after;
//! every acknowledged event is there after recovery and after a restart, and
//! nothing of a refused request is. Figures are printed; run with
//! `--nocapture` to see them.

mod common;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use common::{Options, Resp, Server, Standin, eventually};
use serde_json::{Value, json};
use uuid::Uuid;

fn env(extra: &[(&str, &str)]) -> Vec<(String, String)> {
    [("SHOOTLOG_DEVICE_RATE", "100000"), ("SHOOTLOG_DEVICE_BURST", "100000")]
        .iter()
        .chain(extra)
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// One write request: notes with ids the client chose.
struct Item {
    body: Value,
    ids: Vec<String>,
}

/// `n` notes of about `bytes` each: one event, or a batch.
fn notes(n: usize, bytes: usize, tag: &str) -> Item {
    let ids: Vec<String> = (0..n).map(|_| Uuid::new_v4().to_string()).collect();
    let events: Vec<Value> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| json!({"type": "note", "eventId": id, "text": format!("{tag}-{i} {}", "x".repeat(bytes))}))
        .collect();
    let body = if n == 1 { events[0].clone() } else { json!({ "events": events }) };
    Item { body, ids }
}

const SK: &str = "storage-shoot";

async fn post(s: &Server, item: &Item) -> Resp {
    s.post(&format!("/v1/sessions/{SK}/director-events"), &item.body).await
}

/// What a run of writes did.
#[derive(Default)]
struct Tally {
    acked: Vec<String>,
    refused: Vec<String>,
    refusals: Vec<Resp>,
}

impl Tally {
    /// Posts items from `make` until `refusals` requests in a row were
    /// refused (or `max` requests), asserting that every answer is a 202 or
    /// a 503 storage problem.
    async fn fill(&mut self, s: &Server, max: usize, in_a_row: usize, mut make: impl FnMut(usize) -> Item) {
        let mut row = 0;
        for i in 0..max {
            let item = make(i);
            let r = post(s, &item).await;
            match r.status {
                202 => {
                    row = 0;
                    self.acked.extend(item.ids);
                }
                503 => {
                    assert!(
                        r.body["code"].as_str().is_some_and(|c| c.starts_with("storage_")),
                        "a storage refusal: {:#}",
                        r.body
                    );
                    row += 1;
                    self.refused.extend(item.ids);
                    self.refusals.push(r);
                    if row >= in_a_row {
                        return;
                    }
                }
                other => panic!("unexpected {other}: {:#}", r.body),
            }
        }
        panic!("{max} requests and still not refused {in_a_row} times in a row");
    }
}

/// A storage refusal: 503, `application/problem+json`, its own type and
/// code, `Retry-After` in seconds.
fn assert_storage_problem(r: &Resp, code: &str, retry_after: u64) {
    r.assert_problem(503, code);
    assert_eq!(r.body["type"], format!("/problems/{}", code.replace('_', "-")), "{:#}", r.body);
    assert!(r.body["detail"].as_str().is_some_and(|d| !d.is_empty()), "{:#}", r.body);
    let secs: u64 = r.header("retry-after").expect("Retry-After").parse().expect("seconds");
    assert_eq!(secs, retry_after, "Retry-After of {code}");
}

/// `/readyz` is 503, not ready, with this storage fault.
async fn assert_not_ready(s: &Server, fault: &str) -> Value {
    let r = s.get("/readyz").await;
    assert_eq!(r.status, 503, "{:#}", r.body);
    assert_eq!(r.body["status"], "not_ready", "{:#}", r.body);
    assert_eq!(r.body["storage"]["writable"], false, "{:#}", r.body);
    assert_eq!(r.body["storage"]["fault"], fault, "{:#}", r.body);
    assert_ne!(r.body["journal"], "ok", "{:#}", r.body);
    r.body
}

/// Waits until `/readyz` answers 200 by itself.
async fn ready_again(s: &Server, secs: u64) -> Value {
    eventually(secs, "/readyz to answer 200 again", || async {
        let r = s.get("/readyz").await;
        (r.status == 200).then_some(r.body)
    })
    .await
}

/// Asserts that every acknowledged event is journaled and nothing refused
/// is; returns how many were checked.
async fn assert_journal(s: &Server, acked: &[String], refused: &[String]) {
    for id in acked {
        let r = s.event(id).await;
        assert_eq!(r.status, 200, "acknowledged event {id} is in the journal: {:#}", r.body);
    }
    for id in refused {
        let r = s.event(id).await;
        assert_eq!(r.status, 404, "refused event {id} left nothing behind: {:#}", r.body);
    }
}

fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

async fn metrics(s: &Server) -> String {
    let r = s.get("/metrics").await;
    assert_eq!(r.status, 200);
    r.body.as_str().unwrap_or_default().to_string()
}

fn options_in(dir: &Path, extra: &[(&str, &str)]) -> Options {
    Options { data_dir: Some(dir.to_path_buf()), env: env(extra), ..Options::default() }
}

#[tokio::test]
async fn a_journal_at_its_size_cap_answers_503_storage_full_and_keeps_every_ack() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("data");
    let capped = [("SHOOTLOG_JOURNAL_MAX_SIZE", "192KiB"), ("SHOOTLOG_JOURNAL_RESERVE", "0")];
    let s = Server::start_with(options_in(&dir, &capped)).await;
    assert_eq!(s.get("/readyz").await.status, 200);

    // Batches of 20 until SQLite refuses one, then single events until
    // those are refused too: the database is at its cap.
    let mut t = Tally::default();
    t.fill(&s, 500, 1, |i| notes(20, 400, &format!("b{i}"))).await;
    let batches_acked = t.acked.len();
    t.fill(&s, 500, 3, |i| notes(1, 400, &format!("s{i}"))).await;
    assert_storage_problem(&t.refusals[0], "storage_full", 30);
    for r in &t.refusals {
        assert_storage_problem(r, "storage_full", 30);
    }
    let ready = assert_not_ready(&s, "full").await;
    assert_eq!(ready["storage"]["maxBytes"], 192 << 10);
    let m = metrics(&s).await;
    assert_eq!(metric(&m, "shootlog_journal_writable"), Some(0.0));
    assert_eq!(metric(&m, "shootlog_journal_max_bytes"), Some(f64::from(192u32 << 10)));
    let full = metric(&m, "shootlog_journal_refusals_total{cause=\"full\"}").expect("refusals by cause");
    assert_eq!(full as usize, t.refusals.len(), "{m}");
    println!(
        "[size cap 192 KiB] acknowledged {} events ({} in batches of 20), refused {} requests ({} events); free {:?}",
        t.acked.len(),
        batches_acked,
        t.refusals.len(),
        t.refused.len(),
        ready["storage"]["freeBytes"]
    );
    assert_journal(&s, &t.acked, &t.refused).await;

    // A retry of an acknowledged event is still answered from the journal.
    let first = s.event(&t.acked[0]).await;
    let retry = json!({"type": "note", "eventId": t.acked[0], "text": first.body["event"]["text"]});
    let r = s.post(&format!("/v1/sessions/{SK}/director-events"), &retry).await;
    assert_eq!(r.status, 202, "{:#}", r.body);
    assert_eq!(r.header("idempotent-replayed"), Some("true"));

    // Raise the cap: every acknowledged event is there, new ones are taken.
    assert!(s.stop().await.success());
    let roomy = [("SHOOTLOG_JOURNAL_MAX_SIZE", "2MiB"), ("SHOOTLOG_JOURNAL_RESERVE", "0")];
    let s = Server::start_with(options_in(&dir, &roomy)).await;
    ready_again(&s, 10).await;
    assert_journal(&s, &t.acked, &t.refused).await;
    let after = notes(5, 400, "after");
    assert_eq!(post(&s, &after).await.status, 202);
    assert!(s.stop().await.success());

    // And after one more restart.
    let s = Server::start_with(options_in(&dir, &roomy)).await;
    assert_journal(&s, &t.acked, &t.refused).await;
    assert_journal(&s, &after.ids, &[]).await;
    assert_eq!(s.backlog().await, (t.acked.len() + after.ids.len()) as u64);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn below_the_reserve_verdicts_and_compaction_drain_the_journal_back_to_health() {
    let mut standin = Standin::start().await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("data");
    let opts = Options {
        data_dir: Some(dir.clone()),
        convex_url: Some(standin.url.clone()),
        env: env(&[("SHOOTLOG_JOURNAL_MAX_SIZE", "384KiB"), ("SHOOTLOG_JOURNAL_RESERVE", "128KiB")]),
    };
    let s = Server::start_with(opts.clone()).await;
    let r = s
        .send(
            reqwest::Method::POST,
            "/v1/sessions",
            &json!({"sessionKey": SK, "title": "storage"}),
            &[("prefer", "wait=20")],
        )
        .await;
    assert_eq!(r.status, 201, "{:#}", r.body);
    let session_id = r.event_id();

    // The ledger goes away: events pile up pending until the reserve.
    standin.kill().await;
    let mut t = Tally::default();
    t.fill(&s, 2000, 3, |i| if i % 3 == 0 { notes(5, 300, &format!("b{i}")) } else { notes(1, 300, &format!("s{i}")) })
        .await;
    for r in &t.refusals {
        assert_storage_problem(r, "storage_full", 10);
    }
    let ready = assert_not_ready(&s, "reserve").await;
    let free = ready["storage"]["freeBytes"].as_u64().expect("freeBytes");
    let reserve = ready["storage"]["reserveBytes"].as_u64().expect("reserveBytes");
    assert_eq!(reserve, 128 << 10);
    assert!(free < reserve, "{ready:#}");
    let m = metrics(&s).await;
    assert_eq!(metric(&m, "shootlog_journal_reserve_bytes"), Some(reserve as f64));
    assert!(metric(&m, "shootlog_journal_free_bytes").expect("free") < reserve as f64, "{m}");
    assert_eq!(metric(&m, "shootlog_journal_refusals_total{cause=\"reserve\"}"), Some(t.refusals.len() as f64));
    assert_eq!(metric(&m, "shootlog_journal_refusals_total{cause=\"full\"}"), Some(0.0));
    let backlog = s.backlog().await;
    println!(
        "[reserve 128 KiB of 384 KiB] ledger down: acknowledged {} events, refused {} requests ({} events), free {free} B, backlog {backlog}",
        t.acked.len(),
        t.refusals.len(),
        t.refused.len()
    );
    assert_eq!(backlog, t.acked.len() as u64, "the Start Shoot was delivered before the outage");
    assert_journal(&s, &t.acked, &t.refused).await;

    // The ledger comes back: verdicts are written into the reserve,
    // delivered entries are compacted early, and the service is ready again
    // by itself.
    standin.start_again().await;
    let ready = ready_again(&s, 90).await;
    println!("[reserve] ready again: {:#}", ready["storage"]);
    eventually(60, "the backlog to drain", || async { (s.backlog().await == 0).then_some(()) }).await;
    let more = notes(5, 300, "after");
    assert_eq!(post(&s, &more).await.status, 202);
    eventually(30, "the new events to be delivered", || async { (s.backlog().await == 0).then_some(()) }).await;
    assert!(s.log().contains("compacted delivered entries early"), "early compaction is logged");
    assert_eq!(s.log().matches("journal storage below its reserve").count(), 1, "one log line per state change");

    // Every acknowledged event is in the ledger, once; nothing refused is.
    let check = async |standin: &Standin| {
        let ledger = standin.session(SK).await;
        let ids: Vec<String> = ledger["events"]
            .as_array()
            .expect("ledger events")
            .iter()
            .map(|e| e["eventId"].as_str().unwrap_or("").to_string())
            .collect();
        let unique: HashSet<&String> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len(), "no event twice in the ledger");
        for id in t.acked.iter().chain(&more.ids) {
            assert!(unique.contains(id), "acknowledged event {id} is in the ledger");
        }
        for id in &t.refused {
            assert!(!unique.contains(id), "refused event {id} is not in the ledger");
        }
        ids.len()
    };
    let in_ledger = check(&standin).await;
    assert_eq!(in_ledger, t.acked.len() + more.ids.len());
    assert!(s.stop().await.success());

    let s = Server::start_with(opts).await;
    ready_again(&s, 10).await;
    assert_eq!(check(&standin).await, in_ledger);
    assert_eq!(s.event(&session_id).await.status, 404, "the delivered Start Shoot was compacted early");
    assert_eq!(post(&s, &notes(1, 300, "restarted")).await.status, 202);
    s.stop().await;
}

/// A tmpfs of `size` mounted on a fresh directory, unmounted on drop; None
/// (with the reason printed) where this process may not mount one.
struct Tmpfs {
    dir: PathBuf,
    _parent: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str, extra: &str) -> Option<Tmpfs> {
        let parent = tempfile::tempdir().expect("tempdir");
        let dir = parent.path().join("mnt");
        std::fs::create_dir(&dir).expect("mount point");
        let opts = if extra.is_empty() { format!("size={size}") } else { format!("size={size},{extra}") };
        let out = std::process::Command::new("mount").args(["-t", "tmpfs", "-o", &opts, "tmpfs"]).arg(&dir).output();
        match out {
            Ok(o) if o.status.success() => Some(Tmpfs { dir, _parent: parent }),
            Ok(o) => {
                println!("SKIPPED: cannot mount a tmpfs here: {}", String::from_utf8_lossy(&o.stderr).trim());
                None
            }
            Err(e) => {
                println!("SKIPPED: cannot run mount: {e}");
                None
            }
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazy: a server killed on a panic may still hold files open.
        let _ = std::process::Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}

#[tokio::test]
async fn a_full_file_system_answers_503_and_takes_writes_again_once_space_is_freed() {
    let Some(fs) = Tmpfs::mount("3m", "") else {
        return;
    };
    let dir = fs.dir.join("data");
    std::fs::create_dir(&dir).expect("data dir");
    // Another file takes most of the volume, as in issue 14.
    let filler = fs.dir.join("filler");
    std::fs::write(&filler, vec![7u8; 2 << 20]).expect("filler");

    // No reserve: the file system itself runs out (ENOSPC, SQLITE_FULL).
    let no_reserve = [("SHOOTLOG_JOURNAL_RESERVE", "0")];
    let s = Server::start_with(options_in(&dir, &no_reserve)).await;
    let mut t = Tally::default();
    t.fill(&s, 2000, 3, |i| if i % 4 == 0 { notes(5, 600, &format!("b{i}")) } else { notes(1, 600, &format!("s{i}")) })
        .await;
    for r in &t.refusals {
        assert_storage_problem(r, "storage_full", 30);
    }
    let ready = assert_not_ready(&s, "full").await;
    println!(
        "[tmpfs 3 MiB, 2 MiB taken] acknowledged {} events, refused {} requests ({} events); readyz {}",
        t.acked.len(),
        t.refusals.len(),
        t.refused.len(),
        ready["journal"]
    );
    // Reads still work.
    assert_journal(&s, &t.acked, &t.refused).await;

    // Space is freed: ready again by itself, writes are taken again.
    std::fs::remove_file(&filler).expect("free space");
    ready_again(&s, 15).await;
    let after = notes(5, 600, "after");
    assert_eq!(post(&s, &after).await.status, 202);
    assert!(s.log().contains("journal storage recovered"));
    assert!(s.stop().await.success());

    // After a restart: every acknowledged event, nothing refused.
    let s = Server::start_with(options_in(&dir, &no_reserve)).await;
    assert_journal(&s, &t.acked, &t.refused).await;
    assert_journal(&s, &after.ids, &[]).await;

    // With a reserve larger than what is left, new events wait for room.
    assert!(s.stop().await.success());
    let s = Server::start_with(options_in(&dir, &[("SHOOTLOG_JOURNAL_RESERVE", "5MiB")])).await;
    assert_not_ready(&s, "reserve").await;
    let r = post(&s, &notes(1, 10, "reserved")).await;
    assert_storage_problem(&r, "storage_full", 10);
    assert_eq!(s.backlog().await, (t.acked.len() + after.ids.len()) as u64);
    s.stop().await;
}

#[tokio::test]
async fn a_vanished_data_directory_answers_503_storage_missing_until_it_is_back() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("data");
    let moved = tmp.path().join("data-moved");
    let s = Server::start_with(options_in(&dir, &[])).await;
    let before = notes(5, 100, "before");
    assert_eq!(post(&s, &before).await.status, 202);

    std::fs::rename(&dir, &moved).expect("move the data directory away");
    let gone = notes(3, 100, "gone");
    let r = post(&s, &gone).await;
    assert_storage_problem(&r, "storage_missing", 60);
    assert_not_ready(&s, "missing").await;
    // A read is answered from the open file, or fails the same way (SQLite
    // looks for the WAL by its path when a connection has let go of it; the
    // embedded ledger's follower keeps the read connection busy): never a
    // wrong answer.
    let r = s.event(&before.ids[0]).await;
    if r.status == 200 {
        assert_eq!(r.body["eventId"], before.ids[0].as_str());
    } else {
        assert_storage_problem(&r, "storage_missing", 60);
    }
    let m = metrics(&s).await;
    assert_eq!(metric(&m, "shootlog_journal_refusals_total{cause=\"missing\"}"), Some(1.0));

    std::fs::rename(&moved, &dir).expect("move it back");
    ready_again(&s, 10).await;
    let after = notes(2, 100, "after");
    assert_eq!(post(&s, &after).await.status, 202);
    assert!(s.stop().await.success());

    let s = Server::start_with(options_in(&dir, &[])).await;
    assert_journal(&s, &[before.ids.clone(), after.ids.clone()].concat(), &gone.ids).await;
    let log = s.log();
    assert_eq!(log.matches("journal storage fault").count(), 1, "one line per state change:\n{log}");
    assert_eq!(log.matches("journal storage recovered").count(), 1, "one line per state change:\n{log}");
    s.stop().await;
}

#[tokio::test]
async fn a_read_only_data_directory_stops_the_service_at_startup_with_the_reason() {
    let Some(fs) = Tmpfs::mount("1m", "ro") else {
        return;
    };
    let dir = fs.dir.display().to_string();
    let out = common::run_to_exit(&["--listen", "127.0.0.1:0", "--data-dir", &dir], &[]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("read-only"), "the reason is named: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    println!("[read-only data dir] {}", stderr.trim());
}

/// The `LD_PRELOAD` shim, built into `dir`; None (with the reason printed)
/// without a C compiler.
fn faultfs(dir: &Path) -> Option<PathBuf> {
    let src = common::repo_root().join("tests/support/faultfs.c");
    let lib = dir.join("libfaultfs.so");
    let out = std::process::Command::new("cc")
        .args(["-shared", "-fPIC", "-O1", "-o"])
        .arg(&lib)
        .arg(&src)
        .arg("-ldl")
        .output();
    match out {
        Ok(o) if o.status.success() => Some(lib),
        Ok(o) => {
            println!("SKIPPED: cannot build the fault shim: {}", String::from_utf8_lossy(&o.stderr).trim());
            None
        }
        Err(e) => {
            println!("SKIPPED: no C compiler for the fault shim: {e}");
            None
        }
    }
}

/// A server whose journal fails on demand: write the fault's name to
/// `control` (`fsync`, `eio`, `erofs`, `enospc`; empty: none).
struct Faulty {
    lib: PathBuf,
    control: PathBuf,
    dir: PathBuf,
    _tmp: tempfile::TempDir,
}

impl Faulty {
    fn new() -> Option<Faulty> {
        let tmp = tempfile::tempdir().expect("tempdir");
        let lib = faultfs(tmp.path())?;
        let control = tmp.path().join("fault");
        std::fs::write(&control, "").expect("control file");
        let dir = tmp.path().join("data");
        Some(Faulty { lib, control, dir, _tmp: tmp })
    }

    fn options(&self) -> Options {
        let mut env = env(&[]);
        env.push(("LD_PRELOAD".into(), self.lib.display().to_string()));
        env.push(("FAULTFS_CONTROL".into(), self.control.display().to_string()));
        env.push(("FAULTFS_MATCH".into(), "journal.sqlite3".into()));
        Options { data_dir: Some(self.dir.clone()), env, ..Options::default() }
    }

    fn set(&self, fault: &str) {
        std::fs::write(&self.control, fault).expect("control file");
    }
}

#[tokio::test]
async fn a_read_only_file_system_an_io_error_and_enospc_are_503s_of_their_own_and_pass() {
    let Some(f) = Faulty::new() else {
        return;
    };
    let s = Server::start_with(f.options()).await;
    let mut acked = Vec::new();
    let mut refused = Vec::new();
    let first = notes(5, 200, "before");
    assert_eq!(post(&s, &first).await.status, 202);
    acked.extend(first.ids);

    for (fault, code, cause, retry_after) in [
        ("erofs", "storage_read_only", "read_only", 60),
        ("eio", "storage_io_error", "io", 10),
        ("enospc", "storage_full", "full", 30),
    ] {
        f.set(fault);
        let batch = notes(3, 200, fault);
        let r = post(&s, &batch).await;
        assert_storage_problem(&r, code, retry_after);
        refused.extend(batch.ids);
        let single = notes(1, 200, fault);
        assert_storage_problem(&post(&s, &single).await, code, retry_after);
        refused.extend(single.ids);
        assert_not_ready(&s, cause).await;
        let m = metrics(&s).await;
        assert_eq!(metric(&m, &format!("shootlog_journal_refusals_total{{cause=\"{cause}\"}}")), Some(2.0), "{m}");

        f.set("");
        ready_again(&s, 10).await;
        let after = notes(2, 200, &format!("after-{fault}"));
        assert_eq!(post(&s, &after).await.status, 202, "{fault} passed");
        acked.extend(after.ids);
        println!("[{fault}] 2 requests refused with {code}; ready again, writes taken");
    }
    assert_journal(&s, &acked, &refused).await;
    assert!(s.stop().await.success(), "an I/O error on a write is not fatal: a clean stop");

    let s = Server::start_with(Options { env: env(&[]), ..f.options() }).await;
    assert_journal(&s, &acked, &refused).await;
    println!(
        "[faults] after a restart: {} acknowledged events there, {} refused ones absent",
        acked.len(),
        refused.len()
    );
    s.stop().await;
}

#[tokio::test]
async fn a_failed_fsync_stops_the_journal_and_a_restart_recovers_every_ack() {
    let Some(f) = Faulty::new() else {
        return;
    };
    let s = Server::start_with(f.options()).await;
    let mut acked = Vec::new();
    for i in 0..10 {
        let item = notes(if i % 3 == 0 { 4 } else { 1 }, 200, &format!("before-{i}"));
        assert_eq!(post(&s, &item).await.status, 202);
        acked.extend(item.ids);
    }

    f.set("fsync");
    let failed = notes(3, 200, "failed");
    let r = post(&s, &failed).await;
    assert_storage_problem(&r, "storage_io_error", 10);
    // Nothing more is taken (a 503, or the listener is already closed);
    // the service exits by itself, with an error.
    let late = s.client.post(s.url(&format!("/v1/sessions/{SK}/director-events"))).json(&notes(1, 200, "late").body);
    if let Ok(res) = late.send().await {
        assert_eq!(res.status().as_u16(), 503);
    }
    let log_path = f.dir.join("server.log");
    let status = s.wait_exit(30).await.expect("the service exits by itself after a failed fsync");
    assert!(!status.success(), "{status}");
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    assert!(log.contains("journal fsync failed"), "{log}");
    assert_eq!(log.matches("journal fsync failed").count(), 1, "{log}");

    // The storage is sound again; a restart recovers the journal from its
    // WAL: every acknowledged event, and the failed batch whole or not at all.
    f.set("");
    let s = Server::start_with(Options { env: env(&[]), ..f.options() }).await;
    ready_again(&s, 10).await;
    assert_journal(&s, &acked, &[]).await;
    let mut found = 0;
    for id in &failed.ids {
        if s.event(id).await.status == 200 {
            found += 1;
        }
    }
    assert!(found == 0 || found == failed.ids.len(), "the failed batch is whole or absent: {found} of 3");
    println!(
        "[fsync] {} acknowledged events all there after the restart; the refused batch of 3: {}",
        acked.len(),
        if found == 0 { "absent" } else { "there whole (never acknowledged)" }
    );
    let after = notes(1, 200, "after");
    assert_eq!(post(&s, &after).await.status, 202);
    s.stop().await;
}
