//! The reader's advertisement: a legacy BLE advertising payload (at most 31 bytes including AD
//! headers) carrying everything a phone needs before connecting.
//!
//! Layout of the whole advertising data (30 bytes):
//! `02 01 06` (Flags) ‖ `03 03 uuid16` (service UUID list, what scan filters match) ‖
//! `14 16 uuid16 payload[19]` (service data). Payload: version/flags 1 ‖ tap RSSI threshold 1 ‖
//! TX power at 1 m 1 ‖ reader id 8 ‖ nonce 8.
//!
//! Nothing here is authenticated (advertisements cannot be): it only carries hints. The nonce
//! is checked by the reader, the reader's identity by its certificate, and a tap-mode reader
//! enforces its own distance.

use crate::{
    Error, PROTOCOL_VERSION, Result, SERVICE_UUID16,
    codec::Cursor,
    ids::{Nonce, ReaderId},
};

/// Size of the service-data payload.
pub const ADVERTISEMENT_PAYLOAD_LEN: usize = 3 + 8 + 8;
/// Size of the whole advertising data (must stay within legacy advertising's 31 bytes).
pub const ADVERTISEMENT_AD_LEN: usize = 3 + 4 + 4 + ADVERTISEMENT_PAYLOAD_LEN;
const AD_FLAGS: u8 = 0x01;
const AD_UUID16_COMPLETE: u8 = 0x03;
const AD_SERVICE_DATA16: u8 = 0x16;
const FLAG_RANGE_MODE: u8 = 0x01;

/// How a reader decides the phone is close enough.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnlockMode {
    /// The phone must be tapped on the reader (RSSI above the threshold).
    Tap,
    /// Anywhere in radio range.
    Range,
}

/// What a reader broadcasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Advertisement {
    /// The reader.
    pub reader: ReaderId,
    /// Current freshness nonce; fast requests are bound to it.
    pub nonce: Nonce,
    /// Tap or range.
    pub mode: UnlockMode,
    /// RSSI (dBm, as a phone measures it) at tap distance; below it a tap reader refuses.
    pub tap_rssi_threshold: i8,
    /// Calibrated transmit power at 1 m (dBm), for ranking readers by distance.
    pub tx_power: i8,
}

impl Advertisement {
    /// The service-data payload.
    pub fn encode_payload(&self) -> [u8; ADVERTISEMENT_PAYLOAD_LEN] {
        let mut out = [0u8; ADVERTISEMENT_PAYLOAD_LEN];
        let flags = match self.mode {
            UnlockMode::Tap => 0,
            UnlockMode::Range => FLAG_RANGE_MODE,
        };
        let head = [(PROTOCOL_VERSION << 4) | flags, self.tap_rssi_threshold as u8, self.tx_power as u8];
        for (slot, byte) in out.iter_mut().zip(head.iter().chain(&self.reader.0).chain(&self.nonce.0)) {
            *slot = *byte;
        }
        out
    }

    /// Decodes the service-data payload (what a BLE stack reports for our service UUID).
    pub fn decode_payload(bytes: &[u8]) -> Result<Self> {
        let mut c = Cursor::new("advertisement", bytes);
        let head = c.u8()?;
        let version = head >> 4;
        if version != PROTOCOL_VERSION {
            return Err(Error::UnsupportedVersion { what: "advertisement", version });
        }
        if head & 0x0F & !FLAG_RANGE_MODE != 0 {
            return Err(Error::NonCanonical("reserved advertisement flags set"));
        }
        let mode = if head & FLAG_RANGE_MODE != 0 { UnlockMode::Range } else { UnlockMode::Tap };
        let tap_rssi_threshold = c.u8()? as i8;
        let tx_power = c.u8()? as i8;
        let reader = ReaderId(c.array()?);
        let nonce = Nonce(c.array()?);
        c.finish()?;
        Ok(Self { reader, nonce, mode, tap_rssi_threshold, tx_power })
    }

    /// The whole legacy advertising data, AD headers included.
    pub fn encode_ad(&self) -> Vec<u8> {
        let uuid = SERVICE_UUID16.to_le_bytes();
        let mut out = Vec::with_capacity(ADVERTISEMENT_AD_LEN);
        out.extend_from_slice(&[2, AD_FLAGS, 0x06]);
        out.extend_from_slice(&[3, AD_UUID16_COMPLETE, uuid[0], uuid[1]]);
        out.extend_from_slice(&[(3 + ADVERTISEMENT_PAYLOAD_LEN) as u8, AD_SERVICE_DATA16, uuid[0], uuid[1]]);
        out.extend_from_slice(&self.encode_payload());
        out
    }

    /// Finds and decodes our service data in raw advertising data (any AD order, other AD
    /// structures ignored). Malformed AD structures are an error, never a panic.
    pub fn decode_ad(bytes: &[u8]) -> Result<Self> {
        if bytes.len() > 31 {
            return Err(Error::TooLarge { what: "legacy advertising data", got: bytes.len(), max: 31 });
        }
        let mut c = Cursor::new("advertising data", bytes);
        let mut found = None;
        while c.position() < bytes.len() {
            let len = usize::from(c.u8()?);
            if len == 0 {
                break; // early termination padding
            }
            let structure = c.take(len)?;
            if let [AD_SERVICE_DATA16, lo, hi, payload @ ..] = structure
                && u16::from_le_bytes([*lo, *hi]) == SERVICE_UUID16
            {
                if found.is_some() {
                    return Err(Error::NonCanonical("service data appears twice"));
                }
                found = Some(Self::decode_payload(payload)?);
            }
        }
        found.ok_or(Error::Truncated {
            what: "advertising data without mobile-access service data",
            needed: ADVERTISEMENT_AD_LEN,
            got: bytes.len(),
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_128_bit_service_uuid_is_the_16_bit_one_on_the_bluetooth_base() {
        assert_eq!(format!("{:032x}", crate::SERVICE_UUID), "0000fe4a00001000800000805f9b34fb");
    }
}
