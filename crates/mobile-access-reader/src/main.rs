//! `mobile-access-reader`: a door reader on a Linux board with BlueZ. See `--help` and the
//! repository's docs/reader.md.

use std::{
    path::PathBuf,
    process::ExitCode,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use clap::{Parser, Subcommand};
use mobile_access_protocol::Timestamp;
use mobile_access_reader::{
    DriftingClock, FileStateStore, Provisioning, Reader, ReaderLink, SharedReader,
    bluez::BluezReader,
    relay::{FileRelay, GpioLine, GpioRelay, Relay},
};

/// A mobile-access door reader on BlueZ: advertises, answers phones' Key Button taps over
/// Bluetooth LE, drives the door's relay, and keeps in step with the access cloud while online.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the reader until SIGINT or SIGTERM.
    Run {
        /// The provisioning JSON the access cloud issued for this reader (it holds the reader's
        /// secret key: keep it readable by the reader's user only).
        #[arg(long)]
        provisioning: PathBuf,
        /// The BlueZ adapter to use, e.g. hci0.
        #[arg(long, default_value = "hci0")]
        adapter: String,
        /// The access cloud's base URL; without it the reader runs offline (phones still carry
        /// revocation lists to it, and remote unlock cannot reach it).
        #[arg(long, env = "MOBILE_ACCESS_CLOUD")]
        cloud: Option<String>,
        /// Where the reader keeps its state (and, with `--relay file`, the relay's state file).
        #[arg(long, default_value = "mobile-access-reader-data")]
        data_dir: PathBuf,
        /// The relay: `file` (writes `open`/`closed` to `<data-dir>/relay`) or a GPIO line
        /// `gpio:CHIP:LINE[:active-low]`, e.g. `gpio:gpiochip0:17`.
        #[arg(long, default_value = "file")]
        relay: String,
        /// Seconds between configuration polls and audit uploads while online.
        #[arg(long, default_value_t = 30)]
        poll_secs: u64,
        /// How long, in milliseconds, a phone's fast request stays valid after the nonce it
        /// answers first appeared on the air: the window in which a request captured by a fake
        /// reader could still open the door. Raise it only where connection set-up is slow.
        #[arg(long, default_value_t = 1000)]
        nonce_window_ms: u64,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .with_writer(std::io::stdout)
        .init();
    let result = match cli.command {
        Command::Run { provisioning, adapter, cloud, data_dir, relay, poll_secs, nonce_window_ms } => run(
            provisioning,
            adapter,
            cloud,
            data_dir,
            relay,
            Duration::from_secs(poll_secs.max(1)),
            Duration::from_millis(nonce_window_ms.max(100)),
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}

fn relay(spec: &str, data_dir: &std::path::Path) -> Result<Box<dyn Relay>, String> {
    if spec == "file" {
        return Ok(Box::new(FileRelay::new(data_dir.join("relay")).map_err(|e| e.to_string())?));
    }
    let line = spec.strip_prefix("gpio:").ok_or_else(|| format!("--relay {spec:?}: use file or gpio:CHIP:LINE"))?;
    let line: GpioLine = line.parse().map_err(|e: mobile_access_reader::Error| e.to_string())?;
    Ok(Box::new(GpioRelay::open(line).map_err(|e| e.to_string())?))
}

fn wall_clock() -> Timestamp {
    let seconds = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default();
    Timestamp(u32::try_from(seconds).unwrap_or(u32::MAX))
}

fn run(
    provisioning: PathBuf,
    adapter: String,
    cloud: Option<String>,
    data_dir: PathBuf,
    relay_spec: String,
    poll: Duration,
    nonce_window: Duration,
) -> Result<(), String> {
    let json = std::fs::read_to_string(&provisioning).map_err(|e| format!("{}: {e}", provisioning.display()))?;
    let provisioning = Provisioning::from_json(&json).map_err(|e| e.to_string())?;
    std::fs::create_dir_all(&data_dir).map_err(|e| format!("{}: {e}", data_dir.display()))?;
    let relay = relay(&relay_spec, &data_dir)?;
    let link = match &cloud {
        Some(url) => Some(ReaderLink::new(url, &provisioning).map_err(|e| e.to_string())?),
        None => None,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async move {
        let start = std::time::Instant::now();
        // Revocations, epoch, clock floor, tamper state and unacknowledged attempts survive a
        // restart; a damaged state file stops the reader here, with the reason.
        let store = FileStateStore::new(&data_dir).map_err(|e| e.to_string())?;
        let mut reader =
            Reader::restore(&provisioning, DriftingClock::new(start, wall_clock(), 0), start, Box::new(store))
                .map_err(|e| e.to_string())?;
        reader.set_nonce_window(nonce_window);
        tracing::info!(
            reader = %provisioning.reader_id,
            door = %provisioning.door_name,
            mode = ?provisioning.mode,
            revocation_sequence = reader.revocation_sequence(),
            pending_attempts = reader.audit().len(),
            "starting"
        );
        let reader = BluezReader::start(reader, &adapter, relay).await.map_err(|e| e.to_string())?;
        // Online: the periodic poll and upload, and the long poll that carries remote unlocks.
        let online = async {
            match &link {
                Some(link) => {
                    tokio::join!(link.run(&reader, poll), link.serve_commands(&reader));
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = online => {}
            signal = shutdown() => tracing::info!(%signal, "stopping"),
        }
        reader.with_reader(|r, _| tracing::info!(attempts = r.audit().len(), "stopped"));
        reader.stop();
        Ok(())
    })
}

/// Resolves on SIGINT or SIGTERM (what service managers and orchestrators send).
async fn shutdown() -> &'static str {
    let Ok(mut terminate) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => "SIGINT",
        _ = terminate.recv() => "SIGTERM",
    }
}
