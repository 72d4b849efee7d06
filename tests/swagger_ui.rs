//! Swagger UI, as a person sees it: real headless Chromium loads `/docs/`
//! from the real server, Swagger UI fetches `/openapi.json` and renders
//! every operation.
//!
//! Needs Debian's Chromium (`apt-get install -y chromium`; `.ci/run` installs
//! it). Without it these tests fail: they do not skip. `SHOOTLOG_CHROMIUM`
//! names another binary.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use common::Server;
use serde_json::Value;
use tokio::process::Command;

fn chromium() -> PathBuf {
    if let Some(p) = std::env::var_os("SHOOTLOG_CHROMIUM") {
        return PathBuf::from(p);
    }
    for candidate in ["/usr/bin/chromium", "/usr/bin/chromium-browser"] {
        if Path::new(candidate).exists() {
            return PathBuf::from(candidate);
        }
    }
    panic!(
        "Chromium is not installed, and the Swagger UI tests need it: \
         `apt-get update && apt-get install -y chromium` (Debian's package; `.ci/run` installs it), \
         or point SHOOTLOG_CHROMIUM at a Chromium binary"
    );
}

/// Runs headless Chromium on `url` with `extra` arguments; returns stdout.
async fn run_chromium(url: &str, extra: &[&str]) -> String {
    let profile = tempfile::tempdir().expect("tempdir");
    let mut cmd = Command::new(chromium());
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
    ])
    .arg(format!("--user-data-dir={}", profile.path().display()))
    .arg("--virtual-time-budget=10000")
    .args(extra)
    .arg(url)
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .kill_on_drop(true);
    let child = cmd.spawn().unwrap_or_else(|e| {
        panic!(
            "start {}: {e} — install Chromium: `apt-get update && apt-get install -y chromium`",
            chromium().display()
        )
    });
    let out = tokio::time::timeout(Duration::from_secs(120), child.wait_with_output())
        .await
        .expect("Chromium did not finish within 120 s")
        .expect("Chromium output");
    assert!(
        out.status.success(),
        "Chromium failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr).lines().rev().take(30).collect::<Vec<_>>().join("\n")
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The DOM once Swagger UI has rendered; tried again once if Swagger UI had
/// not finished (a loaded machine).
async fn rendered_docs(s: &Server) -> String {
    let url = s.url("/docs/");
    let mut dom = String::new();
    for _ in 0..2 {
        dom = run_chromium(&url, &["--dump-dom"]).await;
        if dom.contains("opblock-summary-path") {
            break;
        }
    }
    dom
}

fn spec() -> Value {
    serde_json::from_str(&shootlog::api::openapi().to_pretty_json().unwrap()).unwrap()
}

#[tokio::test]
async fn swagger_ui_renders_every_operation() {
    let s = Server::start().await;
    let dom = rendered_docs(&s).await;
    assert!(!dom.contains("Failed to load API definition"), "Swagger UI could not load /openapi.json:\n{dom}");
    assert!(dom.contains("swagger-ui"), "no Swagger UI in the page:\n{dom}");

    // The title, from the document's info.
    assert!(dom.contains(r#"<h2 class="title">shootlog"#), "no title \"shootlog\" in the rendered page:\n{dom}");

    // Every operation of the document is rendered as an opblock, with its
    // method and path.
    let spec = spec();
    let mut expected = 0;
    let mut missing = Vec::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            expected += 1;
            if !dom.contains(&format!(r#"data-path="{path}""#)) {
                missing.push(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    assert!(missing.is_empty(), "operations missing from the rendered Swagger UI: {missing:?}");
    let opblocks = dom.matches(r#"class="opblock opblock-"#).count();
    assert_eq!(opblocks, expected, "{opblocks} operation blocks rendered, the document has {expected} operations");
    for (method, path) in [
        ("post", "/v1/sessions/{sessionKey}/director-events"),
        ("put", "/v1/devices/{deviceId}/placement"),
        ("post", "/v1/webhooks/live-director"),
        ("get", "/v1/events/{eventId}"),
    ] {
        assert!(dom.contains(&format!(r#"class="opblock opblock-{method}"#)), "no {method} opblock");
        assert!(dom.contains(&format!(r#"data-path="{path}""#)), "no opblock for {method} {path}");
    }

    // Every tag is a section.
    for tag in spec["tags"].as_array().unwrap() {
        let name = tag["name"].as_str().unwrap();
        assert!(dom.contains(&format!(r#"data-tag="{name}""#)), "tag {name:?} is not rendered");
    }

    // The security schemes make an "Authorize" button, and the schemas list
    // is there.
    assert!(dom.contains("btn authorize"), "no Authorize button");
    assert!(dom.contains("Schemas"), "no Schemas section");
}

#[tokio::test]
async fn swagger_ui_screenshot() {
    let s = Server::start().await;
    let shot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("swagger-ui.png");
    let _ = std::fs::remove_file(&shot);
    run_chromium(&s.url("/docs/"), &[&format!("--screenshot={}", shot.display()), "--window-size=1280,2000"]).await;
    let png = std::fs::read(&shot).unwrap_or_else(|e| panic!("no screenshot at {}: {e}", shot.display()));
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "{} is not a PNG", shot.display());
    assert_eq!(&png[12..16], b"IHDR", "no IHDR chunk");
    let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(png[20..24].try_into().unwrap());
    assert_eq!((width, height), (1280, 2000), "screenshot size");
    // A blank or error page compresses to a few KiB; the rendered list of
    // operations with its text and colours is far larger (about 190 KiB).
    assert!(
        png.len() > 60 * 1024,
        "the screenshot is only {} bytes: is the page empty? see {}",
        png.len(),
        shot.display()
    );
    eprintln!("Swagger UI screenshot: {}", shot.display());
}
