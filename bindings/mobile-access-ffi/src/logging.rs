//! Log forwarding: the SDK logs with `tracing`; an app that wants those lines in Logcat, OSLog
//! or its own reporter installs a [`LogSink`] with [`set_log_sink`] and picks the level. The
//! SDK never logs a secret (keys, tokens, seeds), so forwarded lines are safe to keep.

use std::{
    fmt::Write as _,
    sync::{Arc, OnceLock, RwLock},
};

use tracing::{Event, Level, Metadata, Subscriber, field::Field, subscriber::Interest};
use tracing_subscriber::{Layer, layer::Context, prelude::*};

use crate::MobileAccessError;

/// How much the SDK says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, uniffi::Enum)]
pub enum LogLevel {
    /// Failures.
    Error,
    /// Problems the SDK worked around.
    Warn,
    /// One line per tap, key download and refresh.
    Info,
    /// Each step of a tap.
    Debug,
    /// Everything, radio events included.
    Trace,
}

impl LogLevel {
    fn admits(self, level: &Level) -> bool {
        let wanted = match self {
            LogLevel::Error => Level::ERROR,
            LogLevel::Warn => Level::WARN,
            LogLevel::Info => Level::INFO,
            LogLevel::Debug => Level::DEBUG,
            LogLevel::Trace => Level::TRACE,
        };
        *level <= wanted
    }

    fn of(level: &Level) -> Self {
        match *level {
            Level::ERROR => LogLevel::Error,
            Level::WARN => LogLevel::Warn,
            Level::INFO => LogLevel::Info,
            Level::DEBUG => LogLevel::Debug,
            _ => LogLevel::Trace,
        }
    }
}

/// Receives the SDK's log lines. Called from the SDK's threads, synchronously: keep it quick.
#[uniffi::export(foreign)]
pub trait LogSink: Send + Sync {
    /// One event: its level, where it comes from (a Rust module path such as
    /// `mobile_access::button`) and the formatted message with its fields.
    fn log(&self, level: LogLevel, target: String, message: String);
}

type Installed = RwLock<Option<(Arc<dyn LogSink>, LogLevel)>>;

static SINK: Installed = RwLock::new(None);
static SUBSCRIBER: OnceLock<Result<(), String>> = OnceLock::new();

/// Sends the SDK's logs at `level` and above to `sink`, replacing any previous sink. The first
/// call installs the process's global `tracing` subscriber; it fails if the process already
/// has one (then nothing is forwarded).
#[uniffi::export]
pub fn set_log_sink(sink: Arc<dyn LogSink>, level: LogLevel) -> Result<(), MobileAccessError> {
    SUBSCRIBER
        .get_or_init(|| {
            tracing_subscriber::registry()
                .with(ForwardingLayer)
                .try_init()
                .map_err(|e| format!("another log subscriber is installed: {e}"))
        })
        .clone()
        .map_err(MobileAccessError::internal)?;
    *SINK.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Some((sink, level));
    tracing::callsite::rebuild_interest_cache();
    Ok(())
}

/// Stops forwarding logs.
#[uniffi::export]
pub fn clear_log_sink() {
    *SINK.write().unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    tracing::callsite::rebuild_interest_cache();
}

fn installed() -> Option<(Arc<dyn LogSink>, LogLevel)> {
    SINK.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
}

/// The layer: asks the installed sink's level on every event, so changing the level takes effect
/// at once.
struct ForwardingLayer;

impl<S: Subscriber> Layer<S> for ForwardingLayer {
    fn register_callsite(&self, _: &'static Metadata<'static>) -> Interest {
        Interest::sometimes()
    }

    fn enabled(&self, metadata: &Metadata<'_>, _: Context<'_, S>) -> bool {
        installed().is_some_and(|(_, level)| level.admits(metadata.level()))
    }

    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let Some((sink, level)) = installed() else { return };
        let metadata = event.metadata();
        if !level.admits(metadata.level()) {
            return;
        }
        let mut message = Message::default();
        event.record(&mut message);
        sink.log(LogLevel::of(metadata.level()), metadata.target().to_owned(), message.text);
    }
}

/// `message key=value key=value`.
#[derive(Default)]
struct Message {
    text: String,
}

impl tracing::field::Visit for Message {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.text.insert_str(0, value);
        } else {
            let _ = write!(self.text, " {}={value}", field.name());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.text.insert_str(0, &format!("{value:?}"));
        } else {
            let _ = write!(self.text, " {}={value:?}", field.name());
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::Mutex;

    use super::*;

    #[derive(Default)]
    struct Collect(Mutex<Vec<(LogLevel, String, String)>>);

    impl LogSink for Collect {
        fn log(&self, level: LogLevel, target: String, message: String) {
            self.0.lock().unwrap().push((level, target, message));
        }
    }

    /// One test for the global subscriber (it can be installed once per process).
    #[test]
    fn events_reach_the_sink_at_the_chosen_level_and_the_level_can_change() {
        let sink = Arc::new(Collect::default());
        set_log_sink(sink.clone(), LogLevel::Info).unwrap();
        tracing::info!(door = "Main entrance", "tap finished");
        tracing::debug!("scan step");
        set_log_sink(sink.clone(), LogLevel::Debug).unwrap();
        tracing::debug!(rssi = -40, "reader seen");
        clear_log_sink();
        tracing::error!("after clearing");

        let lines = sink.0.lock().unwrap().clone();
        let target = module_path!().to_owned();
        assert_eq!(
            lines,
            vec![
                (LogLevel::Info, target.clone(), "tap finished door=Main entrance".to_owned()),
                (LogLevel::Debug, target, "reader seen rssi=-40".to_owned()),
            ]
        );
    }
}
