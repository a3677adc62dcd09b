//! `mobile-access-harness`: the desktop BLE test harness. See `--help`.

use std::{
    io::{IsTerminal, Write},
    net::SocketAddr,
    path::PathBuf,
    process::ExitCode,
    sync::Arc,
    time::Duration,
};

use clap::{Parser, Subcommand};
use mobile_access::{
    CloudConfig, FileStorage, KeyButton, KeyButtonConfig, KeyButtonState, StateListener, Timeouts,
    ble::{Central, ScanFilter, btleplug::BtleplugCentral, sim::RadioProfile},
};
use mobile_access_harness::demo::{self, Output, Step};

/// `println!` that does not panic when stdout is closed (`harness | head`).
macro_rules! say {
    ($($arg:tt)*) => {{
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// The desktop harness of the mobile-access SDK: see a door open without a phone, or talk to real
/// readers through this computer's Bluetooth adapter.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// (default) Walk through what a member experiences: the embedded cloud on loopback with the
    /// demo organization, virtual readers on a simulated radio, and the SDK's Key Button. Exits
    /// 0 only if every step behaved as shown.
    Demo {
        /// The phone's radio profile: ios (30 ms connection interval, MTU 185) or android
        /// (15 ms, MTU 517).
        #[arg(long, default_value = "ios")]
        profile: String,
    },
    /// Scan for mobile-access readers with this computer's Bluetooth adapter and print what
    /// they advertise.
    Scan {
        /// How long to scan.
        #[arg(long, default_value_t = 5)]
        seconds: u64,
        /// The Bluetooth adapter (e.g. hci1 on Linux); the first one by default.
        #[arg(long)]
        adapter: Option<String>,
    },
    /// Open a real door: the SDK's Key Button on this computer's Bluetooth adapter, with a
    /// member token from the access cloud.
    Unlock {
        /// The access cloud's base URL.
        #[arg(long, env = "MOBILE_ACCESS_CLOUD")]
        cloud: String,
        /// The member's session token.
        #[arg(long, env = "MOBILE_ACCESS_TOKEN")]
        token: String,
        /// Where to keep the device key, the digital key and fast secrets between runs.
        #[arg(long, default_value = "mobile-access-keys")]
        keys: PathBuf,
        /// The Bluetooth adapter (e.g. hci1 on Linux); the first one by default.
        #[arg(long)]
        adapter: Option<String>,
        /// How long the unlock exchange may take, in seconds (a phone needs well under one;
        /// an emulated Bluetooth stack several).
        #[arg(long, default_value_t = 5)]
        exchange_secs: u64,
        /// How long connecting may take, in seconds.
        #[arg(long, default_value_t = 10)]
        connect_secs: u64,
        /// How long to look for the door's reader, in seconds.
        #[arg(long, default_value_t = 10)]
        scan_secs: u64,
    },
    /// Run the access cloud on its own (the same as `mobile-access-cloud serve`).
    Cloud {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Data directory (SQLite database, master key file).
        #[arg(long, default_value = mobile_access_cloud::DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
        /// PostgreSQL URL instead of the embedded SQLite.
        #[arg(long, env = "DATABASE_URL")]
        database_url: Option<String>,
        /// Seed the demo organization (when the database has no organization yet) and print the
        /// web console's address and its administrator's sign-in.
        #[arg(long)]
        demo: bool,
    },
    /// The world the console's browser tests run in: the cloud on a free loopback port with two
    /// organizations, and a fixture API (a wallet tap at a virtual reader, an integration sync).
    /// Prints one JSON line with the addresses and sign-ins; serves until stdin closes or Ctrl-C.
    ConsoleFixture {
        /// PostgreSQL instead of SQLite in a temporary directory: a fresh database on the server
        /// `DATABASE_URL` names (read from the environment, so its password is in no command
        /// line), dropped when the fixture stops.
        #[arg(long)]
        postgres: bool,
    },
}

/// Colours when stdout is a terminal (and `NO_COLOR` is unset), plain text when piped.
struct Style {
    colour: bool,
}

impl Style {
    fn detect() -> Self {
        Self { colour: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none() }
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.colour { format!("\x1b[{code}m{text}\x1b[0m") } else { text.to_owned() }
    }
}

struct TextOutput {
    style: Style,
    index: usize,
}

impl Output for TextOutput {
    fn begin(&mut self, title: &str) {
        self.index += 1;
        say!("\n{}", self.style.paint("1", &format!("{}. {title}", self.index)));
        let _ = std::io::stdout().flush();
    }

    fn end(&mut self, step: &Step) {
        for event in &step.events {
            let source = match event.source {
                "reader" if event.text.starts_with("green") => self.style.paint("32", "reader"),
                "reader" if event.text.starts_with("red") => self.style.paint("31", "reader"),
                "reader" => self.style.paint("36", "reader"),
                "cloud" => self.style.paint("35", "cloud "),
                _ => self.style.paint("34", "phone "),
            };
            say!("   {:>8.1} ms  {source}  {}", event.at_ms, event.text);
        }
        let verdict = if step.ok { self.style.paint("32", "ok") } else { self.style.paint("31", "FAILED") };
        say!("   {verdict}: {}", step.observed);
        if !step.ok {
            say!("   expected: {}", step.expected);
        }
    }
}

struct JsonOutput;

impl Output for JsonOutput {
    fn begin(&mut self, _title: &str) {}
    fn end(&mut self, _step: &Step) {}
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command.unwrap_or(Command::Demo { profile: "ios".to_owned() }) {
        Command::Demo { profile } => run_demo(&profile, cli.json),
        Command::Scan { seconds, adapter } => run_scan(seconds, adapter.as_deref(), cli.json),
        Command::Unlock { cloud, token, keys, adapter, exchange_secs, connect_secs, scan_secs } => {
            let timeouts = Timeouts {
                scan: Duration::from_secs(scan_secs),
                exchange: Duration::from_secs(exchange_secs),
                connect: Duration::from_secs(connect_secs),
                ..Timeouts::default()
            };
            run_unlock(cloud, token, keys, adapter.as_deref(), timeouts, cli.json)
        }
        Command::Cloud { listen, data_dir, database_url, demo } => run_cloud(listen, data_dir, database_url, demo),
        Command::ConsoleFixture { postgres } => run_console_fixture(postgres),
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            if cli.json {
                say!("{}", serde_json::json!({ "ok": false, "error": message }));
            } else {
                eprintln!("error: {message}");
            }
            ExitCode::from(2)
        }
    }
}

fn run_demo(profile: &str, json: bool) -> Result<ExitCode, String> {
    let profile = match profile {
        "ios" => RadioProfile::ios(),
        "android" => RadioProfile::android(),
        other => return Err(format!("unknown profile {other:?}: use ios or android")),
    };
    let steps = if json {
        demo::run(profile, &mut JsonOutput)
    } else {
        let style = Style::detect();
        say!("{}", style.paint("1", "mobile-access demo: embedded cloud on loopback, virtual readers, the Key Button"));
        say!("(times are simulated radio milliseconds; the cloud's are wall time on this machine)");
        demo::run(profile, &mut TextOutput { style, index: 0 })
    }
    .map_err(|e| e.to_string())?;
    let ok = demo::all_ok(&steps);
    if json {
        say!("{}", serde_json::json!({ "ok": ok, "steps": steps }));
    } else {
        let passed = steps.iter().filter(|s| s.ok).count();
        say!("\n{passed}/{} steps behaved as shown", steps.len());
    }
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| e.to_string())
}

/// How long a named adapter may take to answer (a slow board, or BlueZ still starting).
const NAMED_ADAPTER_TIMEOUT: Duration = Duration::from_secs(10);

/// The adapter, or a clear one-line error: within a second for the default adapter, within
/// [`NAMED_ADAPTER_TIMEOUT`] for one named on the command line.
async fn adapter(name: Option<&str>) -> Result<BtleplugCentral, String> {
    let open = async {
        match name {
            Some(name) => BtleplugCentral::with_adapter(name, NAMED_ADAPTER_TIMEOUT).await,
            None => BtleplugCentral::new().await,
        }
    };
    match tokio::time::timeout(NAMED_ADAPTER_TIMEOUT + Duration::from_secs(1), open).await {
        Ok(Ok(central)) => Ok(central),
        Ok(Err(error)) => Err(format!("Bluetooth: {error}")),
        Err(_) => Err("Bluetooth: no answer from the Bluetooth service".to_owned()),
    }
}

fn run_scan(seconds: u64, adapter_name: Option<&str>, json: bool) -> Result<ExitCode, String> {
    runtime()?.block_on(async {
        let central = adapter(adapter_name).await?;
        central.adapter_state().await.ready().map_err(|e| format!("Bluetooth: {e}"))?;
        let mut scan = central.scan(ScanFilter::readers()).await.map_err(|e| e.to_string())?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
        loop {
            let event = match tokio::time::timeout_at(deadline, scan.next()).await {
                Ok(Some(event)) => event,
                Err(_elapsed) => break,
                // Never a silent, empty listing: say the platform's scan stopped early.
                Ok(None) => return Err("Bluetooth: the scan ended before its time (the adapter stopped reporting)".to_owned()),
            };
            let advertisement = event.advertisement();
            if json {
                let reader = advertisement.as_ref().map(|a| a.reader.to_string()).ok();
                let mode = advertisement.as_ref().map(|a| format!("{:?}", a.mode)).ok();
                say!("{}", serde_json::json!({ "peripheral": event.peripheral.as_str(), "rssi": event.rssi.dbm(), "reader": reader, "mode": mode }));
            } else {
                match advertisement {
                    Ok(a) => say!("{}  reader {}  {:?}  RSSI {}", event.peripheral, a.reader, a.mode, event.rssi),
                    Err(e) => say!("{}  unreadable advertisement: {e}", event.peripheral),
                }
            }
        }
        let _ = central.stop_scan().await;
        Ok(ExitCode::SUCCESS)
    })
}

struct PrintStates {
    json: bool,
}

impl StateListener for PrintStates {
    fn on_state(&self, state: KeyButtonState) {
        if self.json {
            say!("{}", serde_json::json!({ "state": format!("{state:?}"), "hint": state.hint() }));
        } else {
            say!("{:?}: {}", state, state.hint());
        }
    }
}

fn run_unlock(
    cloud: String,
    token: String,
    keys: PathBuf,
    adapter_name: Option<&str>,
    timeouts: Timeouts,
    json: bool,
) -> Result<ExitCode, String> {
    runtime()?.block_on(async {
        let central: Arc<dyn Central> = Arc::new(adapter(adapter_name).await?);
        let storage = Arc::new(FileStorage::open(keys).map_err(|e| e.to_string())?);
        let config = KeyButtonConfig { cloud: CloudConfig::new(cloud), member_token: token, timeouts };
        let button = KeyButton::new(config, central, storage, None).map_err(|e| e.to_string())?;
        let _listening = button.add_listener(Arc::new(PrintStates { json }));
        let report = button.tap().await.map_err(|e| e.to_string())?;
        if json {
            say!(
                "{}",
                serde_json::json!({ "ok": true, "outcome": format!("{:?}", report.outcome), "door": report.door })
            );
        } else {
            say!("{:?} at {}", report.outcome, report.door);
        }
        Ok(ExitCode::SUCCESS)
    })
}

fn run_cloud(
    listen: SocketAddr,
    data_dir: PathBuf,
    database_url: Option<String>,
    demo: bool,
) -> Result<ExitCode, String> {
    let mut config = mobile_access_cloud::Config::new(data_dir);
    config.listen = listen;
    config.database_url = database_url;
    runtime()?.block_on(async {
        let cloud = mobile_access_cloud::spawn(config).await.map_err(|e| e.to_string())?;
        say!("access cloud on {}", cloud.base_url());
        if demo {
            let store = cloud.store();
            if store.organizations().await.map_err(|e| e.to_string())?.is_empty() {
                let seed = mobile_access_cloud::demo::seed(store, |_| {}).await.map_err(|e| e.to_string())?;
                say!("web console      {}/console", cloud.base_url());
                say!("administrator    {}", seed.console_admin.email);
                say!("password         {}", seed.console_admin.password);
                say!("admin API token  {}", seed.admin_token);
            } else {
                say!("web console      {}/console", cloud.base_url());
                say!(
                    "the database has its organizations already: sign in with the administrator printed when the demo \
                     was seeded ({}), or start with an empty --data-dir",
                    mobile_access_cloud::demo::DEMO_ADMIN_EMAIL
                );
            }
        }
        let _ = tokio::signal::ctrl_c().await;
        cloud.shutdown().await.map_err(|e| e.to_string())
    })?;
    Ok(ExitCode::SUCCESS)
}

fn run_console_fixture(postgres: bool) -> Result<ExitCode, String> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let data = tempfile::tempdir().map_err(|e| format!("temporary directory: {e}"))?;
    let server = if postgres {
        Some(std::env::var("DATABASE_URL").map_err(|_| "--postgres needs DATABASE_URL".to_owned())?)
    } else {
        None
    };
    runtime()?.block_on(async {
        // Stops when the test runner closes stdin (or dies), or on Ctrl-C.
        let stdin_closed = tokio::task::spawn_blocking(|| {
            let mut sink = Vec::new();
            let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink);
        });
        let stop = async {
            tokio::select! {
                _ = stdin_closed => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        };
        let database = match &server {
            Some(server) => Some(
                mobile_access_harness::console_fixture::FreshDatabase::create(server)
                    .await
                    .map_err(|e| e.to_string())?,
            ),
            None => None,
        };
        let url = database.as_ref().map(|database| database.url.clone());
        let ran = mobile_access_harness::console_fixture::run(data.path(), url, stop).await.map_err(|e| e.to_string());
        if let Some(database) = database {
            database.drop().await;
        }
        ran
    })?;
    Ok(ExitCode::SUCCESS)
}
