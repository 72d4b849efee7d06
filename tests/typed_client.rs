//! A client typed from the checked-in OpenAPI document drives a whole shoot
//! through the real server (`clients/ts/shoot.ts`): the types are generated
//! with openapi-typescript, the script must type-check against them (tsc),
//! and then run, checking statuses, headers and bodies as documented.

mod common;

use std::process::Stdio;

use common::{Server, repo_root};

fn node(args: &[&str]) -> std::process::Output {
    std::process::Command::new("node")
        .args(args)
        .current_dir(repo_root())
        .stdin(Stdio::null())
        .output()
        .expect("run node (npm ci first)")
}

fn ok(out: &std::process::Output, what: &str) -> String {
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{what} failed:\n{stdout}\n{stderr}");
    stdout.into_owned()
}

#[tokio::test]
async fn a_client_typed_from_the_spec_drives_a_whole_shoot() {
    let generated =
        node(&["node_modules/openapi-typescript/bin/cli.js", "openapi/openapi.json", "-o", "clients/ts/schema.d.ts"]);
    ok(&generated, "openapi-typescript");
    ok(&node(&["node_modules/typescript/bin/tsc", "-p", "clients/ts"]), "tsc -p clients/ts");

    let s = Server::start().await;
    let out = tokio::task::spawn_blocking({
        let base = s.base.clone();
        move || node(&["--import", "tsx", "clients/ts/shoot.ts", &base])
    })
    .await
    .expect("join");
    let stdout = ok(&out, "clients/ts/shoot.ts");
    assert!(stdout.contains("a whole shoot, 13 events journaled"), "{stdout}");
    // and the operator's rename after it.
    assert_eq!(s.backlog().await, 14);
}
