//! The OpenAPI document against the server, judged by a fuzzer nobody here wrote: schemathesis
//! (PyPI) runs every check it has against the real binary, once per token kind (anonymous,
//! administrator, integration, member, reader), on SQLite and on PostgreSQL when `DATABASE_URL`
//! points at one, and must find nothing.
//!
//! Ignored by plain `cargo test` (it takes minutes and needs schemathesis); `cargo xtask test`
//! runs it when `schemathesis` is installed and prints one `SKIPPED:` line when it is not.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing, missing_docs)]

mod support;

use std::{
    path::Path,
    process::{Command, Stdio},
    time::Instant,
};

use mobile_access_cloud::Backend;
use serde_json::Value;

/// Test cases per operation and phase: enough to reach every documented status of every
/// operation, few enough that ten runs take a few minutes on two cores. The cases are the same
/// in every run (`deterministic` in `tests/schemathesis.toml`).
const MAX_EXAMPLES: &str = "15";

/// `args` run by the cloud binary against the database of `data_dir` / `database_url`.
fn cloud(data_dir: &Path, database_url: Option<&str>) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mobile-access-cloud"));
    // The flag, never the environment, says which database this run uses.
    command.env_remove("DATABASE_URL").arg("--data-dir").arg(data_dir).args(["--log-format", "text"]);
    if let Some(url) = database_url {
        command.arg("--database-url").arg(url);
    }
    command
}

/// Routes anyone may call, tried with every token.
const PUBLIC: &str = "/healthz|/readyz|/openapi\\.json|/v1/login|/v1/invitations/";

/// One kind of caller: its name, its token in the demo organization (`None`: anonymous) and the
/// routes it is fuzzed on (a regex; `None`: all). Anonymous callers try every route (each must
/// answer a documented 401); each role then tries its own routes and the public ones, where its
/// token gets past authentication. Which role may call what is `tests/authorization.rs`'s.
struct Kind {
    name: &'static str,
    token: Option<String>,
    routes: Option<String>,
}

fn token_kinds(seed: &Value) -> Vec<Kind> {
    let text = |v: &Value| Some(v.as_str().unwrap().to_owned());
    let member = seed["members"].as_array().unwrap().iter().find(|m| m["external_id"] == "grace_staff").unwrap();
    let kind = |name, token, own: &str| Kind { name, token, routes: Some(format!("^({PUBLIC}|{own})")) };
    vec![
        Kind { name: "anonymous", token: None, routes: None },
        kind("reader", text(&seed["readers"][0]["reader_token"]), "/v1/reader/"),
        kind("integration", text(&seed["integration_token"]), "/v1/integration/"),
        // Not /v1/logout: it would end this session halfway through the run (tests/logout.rs).
        kind("member", text(&member["token"]), "/v1/me/"),
        // Last: an administrator can change what the others see (settings, credentials).
        kind("admin", text(&seed["admin_token"]), "/v1/admin/"),
    ]
}

/// One schemathesis run as `kind`; its output when it found something.
fn schemathesis(base: &str, kind: &Kind) -> Result<(), String> {
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/schemathesis.toml");
    let mut st = Command::new("schemathesis");
    st.args(["--config-file", config, "run"])
        .arg(format!("{base}/openapi.json"))
        .args(["--checks", "all", "--max-examples", MAX_EXAMPLES])
        .args(["--workers", "1", "--no-color", "--suppress-health-check", "all", "--request-timeout", "30"])
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    if let Some(routes) = &kind.routes {
        st.args(["--include-path-regex", routes]);
    }
    if let Some(token) = &kind.token {
        // Never printed: the command line is echoed below without it.
        st.arg("--header").arg(format!("Authorization: Bearer {token}"));
    }
    let started = Instant::now();
    let output = st.output().map_err(|e| format!("could not run schemathesis: {e}"))?;
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    eprintln!("schemathesis as {}: {} in {:.1} s", kind.name, output.status, started.elapsed().as_secs_f64());
    if output.status.success() { Ok(()) } else { Err(text) }
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "minutes long and needs schemathesis: cargo xtask test runs it"]
async fn schemathesis_finds_nothing_with_any_token_kind() {
    let mut failures = Vec::new();
    for backend in support::backends() {
        let dir = tempfile::tempdir().unwrap();
        let mut pg = None;
        if backend == Backend::Postgres {
            pg = Some(support::fresh_postgres_database().await);
        }
        let url = pg.as_ref().map(|(url, _)| url.as_str());
        let seeded = cloud(dir.path(), url).args(["seed-demo", "--json"]).stderr(Stdio::null()).output().unwrap();
        assert!(seeded.status.success(), "seed-demo failed");
        let seed: Value = serde_json::from_slice(&seeded.stdout).unwrap();

        // Rate limits off: a fuzzer is one client sending hundreds of requests a second, and the
        // point is what each operation answers, not the limits (tests/limits.rs has those).
        let mut server = support::ServerProcess(
            cloud(dir.path(), url)
                .args(["serve", "--listen", "127.0.0.1:0"])
                .args(["--limit-per-address", "off", "--limit-per-caller", "off"])
                .args(["--limit-failures-per-address", "off", "--limit-failures-per-email", "off"])
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let base = support::ready_line(server.0.stdout.take().unwrap()).await;
        assert!(base.starts_with("http://127.0.0.1:"), "ready line: {base:?}");
        for kind in token_kinds(&seed) {
            let base = base.clone();
            let name = kind.name;
            let run = tokio::task::spawn_blocking(move || schemathesis(&base, &kind));
            if let Err(report) = run.await.unwrap() {
                failures.push(format!("=== {backend:?}, {name} token ===\n{report}"));
            }
        }
        drop(server);
        if let Some((_, name)) = pg {
            support::drop_postgres_database(&name).await;
        }
    }
    assert!(failures.is_empty(), "schemathesis found disagreements:\n{}", failures.join("\n"));
}
