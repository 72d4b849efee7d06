//! Stamps the binary with its git commit and build time for `GET /version`.
//! `SHOOTLOG_GIT_COMMIT` / `SHOOTLOG_BUILD_TIME` in the environment win (the
//! Docker build passes them, having no `.git`); otherwise git is asked.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=SHOOTLOG_GIT_COMMIT");
    println!("cargo:rerun-if-env-changed=SHOOTLOG_BUILD_TIME");
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/refs/heads");
    let commit = std::env::var("SHOOTLOG_GIT_COMMIT").ok().filter(|c| !c.is_empty()).or_else(|| {
        let out = Command::new("git").args(["rev-parse", "HEAD"]).output().ok()?;
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    });
    let time = std::env::var("SHOOTLOG_BUILD_TIME").ok().filter(|t| !t.is_empty()).or_else(|| {
        let out = Command::new("date").args(["-u", "+%Y-%m-%dT%H:%M:%SZ"]).output().ok()?;
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    });
    println!("cargo:rustc-env=SHOOTLOG_GIT_COMMIT={}", commit.unwrap_or_else(|| "unknown".into()));
    println!("cargo:rustc-env=SHOOTLOG_BUILD_TIME={}", time.unwrap_or_else(|| "unknown".into()));
}
