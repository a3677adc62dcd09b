//! The web console's browser tests: Playwright (from npm, `npm ci` with the committed lock file)
//! driving Debian's headless `chromium` against the harness's `console-fixture` (the cloud on
//! loopback with two organizations). Playwright never downloads a browser here
//! (`PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD`, and `executablePath` in its configuration).
//!
//! The suite runs once on SQLite and, when `DATABASE_URL` names a PostgreSQL server, once more
//! on PostgreSQL (the fixture works in a fresh database of its own there); without it, one loud
//! `SKIPPED` line says PostgreSQL was not tested. `cargo xtask test` runs them when Chromium,
//! node and npm are installed and prints one loud `SKIPPED` line otherwise; `cargo xtask
//! console` runs them and fails without them. Screenshots of every page land in
//! `<target>/console-screenshots/<database>` (`sqlite`, `postgres`), one run's never over
//! another's.

use std::{path::PathBuf, process::Command};

use crate::{cargo, root, run, target_dir, which};

/// What the tests need from the machine.
struct Tools {
    chromium: PathBuf,
    npm: PathBuf,
}

/// Chromium (`CHROMIUM`, or `chromium` / `chromium-browser` on `PATH`), node and npm; the
/// names of those missing otherwise.
fn tools() -> Result<Tools, Vec<&'static str>> {
    let chromium = std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .filter(|path| path.is_file())
        .or_else(|| which("chromium"))
        .or_else(|| which("chromium-browser"));
    let node = which("node");
    let npm = which("npm");
    let mut missing = Vec::new();
    if chromium.is_none() {
        missing.push("chromium");
    }
    if node.is_none() {
        missing.push("node");
    }
    if npm.is_none() {
        missing.push("npm");
    }
    match (chromium, node, npm) {
        (Some(chromium), Some(_), Some(npm)) => Ok(Tools { chromium, npm }),
        _ => Err(missing),
    }
}

/// Part of `cargo xtask test`.
pub fn test_if_available() -> Result<(), String> {
    match tools() {
        Ok(tools) => run_tests(&tools),
        Err(missing) => {
            eprintln!(
                "\n==== SKIPPED: the web console's browser tests (Playwright in headless Chromium): missing {}. \
                 Install with `apt-get install chromium nodejs npm` (.ci/run does). ====\n",
                missing.join(", ")
            );
            Ok(())
        }
    }
}

/// `cargo xtask console`.
pub fn command(args: &[String]) -> Result<(), String> {
    if !args.is_empty() {
        return Err("usage: cargo xtask console".to_owned());
    }
    let tools = tools().map_err(|missing| format!("the console's browser tests need {}", missing.join(", ")))?;
    run_tests(&tools)
}

fn run_tests(tools: &Tools) -> Result<(), String> {
    let mut build = cargo();
    build.args(["build", "-p", "mobile-access-harness", "--bin", "mobile-access-harness", "--locked"]);
    run(build)?;
    let target = target_dir()?;
    let dir = root().join("crates/mobile-access-cloud/tests/console-browser");
    let mut install = Command::new(&tools.npm);
    install.args(["ci", "--no-audit", "--no-fund"]).current_dir(&dir).env("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1");
    run(install)?;
    let postgres = postgres_configured();
    let databases: &[&str] = if postgres { &["sqlite", "postgres"] } else { &["sqlite"] };
    for database in databases {
        let screenshots = target.join("console-screenshots").join(database);
        let mut tests = Command::new(&tools.npm);
        tests
            .args(["test", "--silent"])
            .current_dir(&dir)
            .env("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
            .env("CHROMIUM", &tools.chromium)
            .env("CONSOLE_FIXTURE", target.join("debug/mobile-access-harness"))
            .env("CONSOLE_SCREENSHOTS", &screenshots);
        // The fixture reads the URL from DATABASE_URL itself: it holds a password, and `run`
        // echoes the command with every variable set on it.
        tests.env("CONSOLE_DATABASE", database);
        eprintln!("xtask: the console's browser tests on {database}");
        run(tests).map_err(|e| format!("on {database}: {e}"))?;
        eprintln!("xtask: console screenshots ({database}) in {}", screenshots.display());
    }
    if !postgres {
        eprintln!(
            "\n==== SKIPPED: the web console's browser tests on PostgreSQL: DATABASE_URL is not set to a \
             postgres:// server. They ran on SQLite only. ====\n"
        );
    }
    Ok(())
}

/// Whether `DATABASE_URL` names a PostgreSQL server to run the suite on as well.
fn postgres_configured() -> bool {
    std::env::var("DATABASE_URL").is_ok_and(|url| url.starts_with("postgres://") || url.starts_with("postgresql://"))
}
