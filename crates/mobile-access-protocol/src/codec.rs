//! Bounds-checked byte cursor shared by every decoder, so no decoder indexes a slice directly.

use crate::{Error, Result};

pub(crate) struct Cursor<'a> {
    what: &'static str,
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(what: &'static str, bytes: &'a [u8]) -> Self {
        Self { what, bytes, pos: 0 }
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&end| end <= self.bytes.len());
        let Some(end) = end else {
            return Err(Error::Truncated { what: self.what, needed: self.pos + n, got: self.bytes.len() });
        };
        let out = self.bytes.get(self.pos..end).unwrap_or_default();
        self.pos = end;
        Ok(out)
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    pub(crate) fn u8(&mut self) -> Result<u8> {
        Ok(self.array::<1>()?[0])
    }

    pub(crate) fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    pub(crate) fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    pub(crate) fn version(&mut self, expected: u8) -> Result<()> {
        let version = self.u8()?;
        if version != expected {
            return Err(Error::UnsupportedVersion { what: self.what, version });
        }
        Ok(())
    }

    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    pub(crate) fn rest(&mut self) -> &'a [u8] {
        let out = self.bytes.get(self.pos..).unwrap_or_default();
        self.pos = self.bytes.len();
        out
    }

    pub(crate) fn finish(self) -> Result<()> {
        match self.bytes.len() - self.pos {
            0 => Ok(()),
            extra => Err(Error::TrailingBytes { what: self.what, extra }),
        }
    }
}
