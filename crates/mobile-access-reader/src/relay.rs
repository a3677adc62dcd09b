//! The door's relay: what actually releases the strike. Behind a small trait so the same reader
//! drives a GPIO line on a board, a file in tests and demos, or nothing at all.
//!
//! The reader decides *when* (`Reader::relay_is_open`, only once the phone received its answer);
//! a [`Relay`] only moves the hardware. Setting the state it is already in is harmless, so a
//! caller can simply mirror the reader's state after every event.

use std::{
    fs,
    io::Write,
    path::{Path, PathBuf},
};

use crate::{Error, Result};

/// Something that opens and closes a door.
pub trait Relay: Send {
    /// Drives the relay open (`true`: the door can be pushed open) or closed.
    fn set(&mut self, open: bool) -> Result<()>;
}

/// A relay that writes its state (`open` or `closed`, one line) to a file, replaced atomically:
/// what tests and demos watch, and a stand-in where a door has no relay wired yet.
#[derive(Debug)]
pub struct FileRelay {
    path: PathBuf,
}

impl FileRelay {
    /// A relay whose state lives in `path`; writes `closed` there now, so a stale `open` from a
    /// previous run never shows.
    pub fn new(path: impl Into<PathBuf>) -> Result<Self> {
        let mut relay = Self { path: path.into() };
        relay.set(false)?;
        Ok(relay)
    }

    /// The file it writes.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Relay for FileRelay {
    fn set(&mut self, open: bool) -> Result<()> {
        let text = if open { "open\n" } else { "closed\n" };
        let relay_error = |e: std::io::Error| Error::Relay(format!("{}: {e}", self.path.display()));
        let temporary = self.path.with_extension("tmp");
        let mut file = fs::File::create(&temporary).map_err(relay_error)?;
        file.write_all(text.as_bytes()).map_err(relay_error)?;
        file.sync_all().map_err(relay_error)?;
        fs::rename(&temporary, &self.path).map_err(relay_error)
    }
}

/// Which GPIO line drives the relay: `CHIP:LINE`, e.g. `gpiochip0:17` or `/dev/gpiochip0:17`,
/// with an optional `:active-low` for relay boards that switch on a low level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GpioLine {
    /// The character device of the GPIO chip.
    pub chip: PathBuf,
    /// The line's offset on the chip.
    pub line: u32,
    /// True if the relay closes its contact on a low level.
    pub active_low: bool,
}

impl std::str::FromStr for GpioLine {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        let invalid = || Error::Relay(format!("{text:?}: expected CHIP:LINE[:active-low], e.g. gpiochip0:17"));
        let mut parts = text.rsplitn(3, ':').collect::<Vec<_>>();
        parts.reverse();
        let (chip, line, active_low) = match parts.as_slice() {
            [chip, line] => (*chip, *line, false),
            [chip, line, "active-low"] => (*chip, *line, true),
            _ => return Err(invalid()),
        };
        if chip.is_empty() {
            return Err(invalid());
        }
        let line = line.parse().map_err(|_| invalid())?;
        let chip = if chip.starts_with('/') { PathBuf::from(chip) } else { Path::new("/dev").join(chip) };
        Ok(Self { chip, line, active_low })
    }
}

/// A relay on a Linux GPIO line, through the GPIO character device (`/dev/gpiochipN`), as on a
/// Raspberry Pi-class board. The line is requested once, as an output, closed; the kernel
/// releases it (and the relay falls back to its resting state) if the reader process dies.
#[cfg(all(feature = "bluez", target_os = "linux"))]
pub struct GpioRelay {
    line: GpioLine,
    request: gpiocdev::Request,
}

#[cfg(all(feature = "bluez", target_os = "linux"))]
impl std::fmt::Debug for GpioRelay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpioRelay").field("line", &self.line).finish_non_exhaustive()
    }
}

#[cfg(all(feature = "bluez", target_os = "linux"))]
impl GpioRelay {
    /// Requests `line` as an output, driving it inactive (relay closed).
    pub fn open(line: GpioLine) -> Result<Self> {
        let mut builder = gpiocdev::Request::builder();
        builder
            .on_chip(&line.chip)
            .with_consumer("mobile-access-reader")
            .with_line(line.line)
            .as_output(gpiocdev::line::Value::Inactive);
        if line.active_low {
            builder.as_active_low();
        }
        let request =
            builder.request().map_err(|e| Error::Relay(format!("GPIO {}:{}: {e}", line.chip.display(), line.line)))?;
        Ok(Self { line, request })
    }
}

#[cfg(all(feature = "bluez", target_os = "linux"))]
impl Relay for GpioRelay {
    fn set(&mut self, open: bool) -> Result<()> {
        let value = if open { gpiocdev::line::Value::Active } else { gpiocdev::line::Value::Inactive };
        self.request
            .set_value(self.line.line, value)
            .map_err(|e| Error::Relay(format!("GPIO {}:{}: {e}", self.line.chip.display(), self.line.line)))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_file_relay_starts_closed_and_shows_each_state() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("relay");
        fs::write(&path, "open\n").unwrap();
        let mut relay = FileRelay::new(&path).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "closed\n", "a stale open state must not survive a restart");
        relay.set(true).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "open\n");
        relay.set(true).unwrap();
        relay.set(false).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "closed\n");
    }

    #[test]
    fn a_file_relay_in_a_missing_directory_is_a_clear_error() {
        let error = FileRelay::new("/nonexistent-dir/relay").unwrap_err();
        assert!(matches!(&error, Error::Relay(text) if text.contains("/nonexistent-dir/relay")), "{error}");
    }

    #[test]
    fn gpio_lines_parse_like_an_installer_writes_them() {
        let line: GpioLine = "gpiochip0:17".parse().unwrap();
        assert_eq!(line, GpioLine { chip: PathBuf::from("/dev/gpiochip0"), line: 17, active_low: false });
        let line: GpioLine = "/dev/gpiochip4:5:active-low".parse().unwrap();
        assert_eq!(line, GpioLine { chip: PathBuf::from("/dev/gpiochip4"), line: 5, active_low: true });
        for bad in ["", "gpiochip0", "gpiochip0:x", ":3", "gpiochip0:3:inverted", "gpiochip0:-1"] {
            assert!(bad.parse::<GpioLine>().is_err(), "{bad:?} parsed");
        }
    }

    #[cfg(all(feature = "bluez", target_os = "linux"))]
    #[test]
    fn a_missing_gpio_chip_is_a_clear_error_not_a_panic() {
        let line: GpioLine = "gpiochip250:17".parse().unwrap();
        let error = GpioRelay::open(line).unwrap_err();
        assert!(matches!(&error, Error::Relay(text) if text.contains("/dev/gpiochip250:17")), "{error}");
    }
}
