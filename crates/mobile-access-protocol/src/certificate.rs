//! A reader certificate: the organization vouching that a reader key belongs to one of its
//! readers, on one lock. Sent by the reader in the full exchange so a phone can check any reader
//! of the organization offline, including readers installed after its key was downloaded.

use crate::{
    PROTOCOL_VERSION, Result,
    codec::Cursor,
    ids::{KeyId, LockId, OrgId, ReaderId},
    keys::OrganizationPublicKey,
};

/// Encoded size.
pub const READER_CERTIFICATE_LEN: usize = 1 + 8 + 8 + 4 + 4 + 32 + 64;
const DOMAIN: &[u8] = b"mobile-access/v1/reader-certificate";

/// The organization's statement "this Ed25519 key is reader `reader` on lock `lock`".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReaderCertificate {
    /// The reader, as it advertises itself.
    pub reader: ReaderId,
    /// The organization.
    pub org: OrgId,
    /// Fingerprint of the organization key that signed.
    pub org_key: KeyId,
    /// The lock this reader opens.
    pub lock: LockId,
    /// The reader's Ed25519 public key.
    pub reader_key: [u8; 32],
    /// Organization signature over everything above.
    pub signature: [u8; 64],
}

impl ReaderCertificate {
    pub(crate) fn sign(
        reader: ReaderId,
        org: OrgId,
        org_key: KeyId,
        lock: LockId,
        reader_key: [u8; 32],
        sign: impl FnOnce(&[u8]) -> [u8; 64],
    ) -> Self {
        let mut cert = Self { reader, org, org_key, lock, reader_key, signature: [0; 64] };
        cert.signature = sign(&cert.signing_input());
        cert
    }

    fn unsigned(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(READER_CERTIFICATE_LEN);
        out.push(PROTOCOL_VERSION);
        out.extend_from_slice(&self.reader.0);
        out.extend_from_slice(&self.org.0);
        out.extend_from_slice(&self.org_key.0);
        out.extend_from_slice(&self.lock.0.to_be_bytes());
        out.extend_from_slice(&self.reader_key);
        out
    }

    fn signing_input(&self) -> Vec<u8> {
        [DOMAIN, &self.unsigned()].concat()
    }

    /// The canonical encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = self.unsigned();
        out.extend_from_slice(&self.signature);
        out
    }

    /// Decodes exactly one certificate.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let mut c = Cursor::new("reader certificate", bytes);
        let cert = Self::read(&mut c)?;
        c.finish()?;
        Ok(cert)
    }

    pub(crate) fn read(c: &mut Cursor<'_>) -> Result<Self> {
        c.version(PROTOCOL_VERSION)?;
        Ok(Self {
            reader: ReaderId(c.array()?),
            org: OrgId(c.array()?),
            org_key: KeyId(c.array()?),
            lock: LockId(c.u32()?),
            reader_key: c.array()?,
            signature: c.array()?,
        })
    }

    /// True if `anchor` signed this certificate.
    pub fn verify(&self, anchor: &OrganizationPublicKey) -> bool {
        anchor.org == self.org && anchor.key_id == self.org_key && anchor.verify(&self.signing_input(), &self.signature)
    }
}
