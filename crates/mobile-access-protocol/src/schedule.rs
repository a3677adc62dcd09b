//! The key schedule: how the handshake transcript and the X25519 shared secret become the keys
//! of each direction and the persistent fast-exchange secret, and the sealing helpers built on
//! them. Both sides run this same code, so they cannot disagree about a derivation.
//!
//! Every AEAD key here encrypts exactly one message, which is why a fixed all-zero GCM nonce is
//! safe: the uniqueness AES-GCM needs comes from the key, never from the nonce.

use ring::{
    aead::{self, AES_256_GCM, Aad, LessSafeKey, UnboundKey},
    agreement::{self, EphemeralPrivateKey, UnparsedPublicKey, X25519},
    digest, hkdf,
    rand::SecureRandom,
};

use zeroize::Zeroize;

use crate::{
    Error, Result,
    ids::{Nonce, ReaderId},
    message::{EPHEMERAL_LEN, PHONE_NONCE_LEN},
};

const READER_HELLO_DOMAIN: &[u8] = b"mobile-access/v1/reader-hello";
const TRANSCRIPT_DOMAIN: &[u8] = b"mobile-access/v1/transcript";
const DEVICE_AUTH_DOMAIN: &[u8] = b"mobile-access/v1/device-auth";
const FAST_DOMAIN: &[u8] = b"mobile-access/v1/fast";
const LIST_LABEL: &[u8] = b"revocation-list";

/// A 32-byte secret.
pub(crate) type Secret = [u8; 32];

struct Len32;

impl hkdf::KeyType for Len32 {
    fn len(&self) -> usize {
        32
    }
}

fn expand(prk: &hkdf::Prk, label: &[u8]) -> Result<Secret> {
    let mut out = [0u8; 32];
    prk.expand(&[label], Len32).and_then(|okm| okm.fill(&mut out)).map_err(|_| Error::Crypto("HKDF expand failed"))?;
    Ok(out)
}

/// A fresh X25519 key pair: the private half and the public bytes to send.
pub(crate) fn ephemeral(rng: &dyn SecureRandom) -> Result<(EphemeralPrivateKey, [u8; EPHEMERAL_LEN])> {
    let private =
        EphemeralPrivateKey::generate(&X25519, rng).map_err(|_| Error::Crypto("X25519 key generation failed"))?;
    let public = private.compute_public_key().map_err(|_| Error::Crypto("X25519 public key failed"))?;
    let mut bytes = [0u8; EPHEMERAL_LEN];
    bytes.copy_from_slice(public.as_ref());
    Ok((private, bytes))
}

/// What the reader signs in its hello: the phone's hello and its own hello up to the signature.
pub(crate) fn reader_hello_signing_input(hello: &[u8], reader_hello_signed: &[u8]) -> Vec<u8> {
    [READER_HELLO_DOMAIN, hello, reader_hello_signed].concat()
}

/// The keys of one full exchange, derived from the transcript hash and the ECDH secret.
pub(crate) struct HandshakeKeys {
    /// Hash of both hellos, reader signature included; the device signs it.
    pub transcript: [u8; 32],
    /// Phone → reader key (the FullAuth message).
    pub phone_to_reader: Secret,
    /// Reader → phone key (the FullResult message).
    pub reader_to_phone: Secret,
    /// The persistent secret fast exchanges use afterwards.
    pub persistent: Secret,
    /// Phone → reader key of the revocation list handed over after the answer.
    pub list: Secret,
}

impl Drop for HandshakeKeys {
    fn drop(&mut self) {
        self.phone_to_reader.zeroize();
        self.reader_to_phone.zeroize();
        self.persistent.zeroize();
        self.list.zeroize();
    }
}

impl HandshakeKeys {
    /// Agrees on the shared secret and derives the keys. `full_hello` and `reader_hello` are the
    /// exact bytes sent, so any change to either gives both sides different keys.
    pub(crate) fn derive(
        private: EphemeralPrivateKey,
        peer_public: &[u8; EPHEMERAL_LEN],
        full_hello: &[u8],
        reader_hello: &[u8],
    ) -> Result<Self> {
        let transcript = digest::digest(&digest::SHA256, &[TRANSCRIPT_DOMAIN, full_hello, reader_hello].concat());
        let salt = hkdf::Salt::new(hkdf::HKDF_SHA256, transcript.as_ref());
        let peer = UnparsedPublicKey::new(&X25519, peer_public);
        let prk = agreement::agree_ephemeral(private, &peer, |shared| salt.extract(shared))
            .map_err(|_| Error::Crypto("X25519 agreement failed"))?;
        let mut hash = [0u8; 32];
        hash.copy_from_slice(transcript.as_ref());
        Ok(Self {
            transcript: hash,
            phone_to_reader: expand(&prk, b"phone-to-reader")?,
            reader_to_phone: expand(&prk, b"reader-to-phone")?,
            persistent: expand(&prk, b"persistent")?,
            list: expand(&prk, LIST_LABEL)?,
        })
    }

    /// What the device key signs: the transcript and the credential it presents.
    pub(crate) fn device_signing_input(&self, credential: &[u8]) -> Vec<u8> {
        [DEVICE_AUTH_DOMAIN, &self.transcript, credential].concat()
    }
}

/// The single-use keys of one fast exchange.
pub(crate) struct FastKeys {
    /// Phone → reader.
    pub request: Secret,
    /// Reader → phone.
    pub response: Secret,
    /// Phone → reader, the revocation list handed over after the answer.
    pub list: Secret,
}

impl Drop for FastKeys {
    fn drop(&mut self) {
        self.request.zeroize();
        self.response.zeroize();
        self.list.zeroize();
    }
}

impl FastKeys {
    /// Binds the keys to the reader, its advertised nonce and the phone's fresh nonce, so a
    /// recorded request is useless at another reader or after the nonce rotated.
    pub(crate) fn derive(
        persistent: &Secret,
        reader: ReaderId,
        reader_nonce: Nonce,
        phone_nonce: &[u8; PHONE_NONCE_LEN],
    ) -> Result<Self> {
        let salt_bytes = [FAST_DOMAIN, &reader.0, &reader_nonce.0, phone_nonce].concat();
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, &salt_bytes).extract(persistent);
        Ok(Self {
            request: expand(&prk, b"request")?,
            response: expand(&prk, b"response")?,
            list: expand(&prk, LIST_LABEL)?,
        })
    }
}

fn aead_key(key: &Secret) -> Result<LessSafeKey> {
    UnboundKey::new(&AES_256_GCM, key).map(LessSafeKey::new).map_err(|_| Error::Crypto("AES-256-GCM key"))
}

/// Encrypts `plaintext` under a single-use `key`, authenticating `aad`.
pub(crate) fn seal(key: &Secret, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>> {
    let mut buffer = plaintext.to_vec();
    aead_key(key)?
        .seal_in_place_append_tag(aead::Nonce::assume_unique_for_key([0; 12]), Aad::from(aad), &mut buffer)
        .map_err(|_| Error::Crypto("AES-256-GCM seal failed"))?;
    Ok(buffer)
}

/// Decrypts what [`seal`] made; `None` if it was made under another key or altered.
pub(crate) fn open(key: &Secret, aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
    let mut buffer = sealed.to_vec();
    let plain_len = aead_key(key)
        .ok()?
        .open_in_place(aead::Nonce::assume_unique_for_key([0; 12]), Aad::from(aad), &mut buffer)
        .ok()?
        .len();
    buffer.truncate(plain_len);
    Some(buffer)
}

/// Seals into a fixed-size array, for the one-byte messages.
pub(crate) fn seal_array<const N: usize>(key: &Secret, aad: &[u8], plaintext: &[u8]) -> Result<[u8; N]> {
    seal(key, aad, plaintext)?.try_into().map_err(|_| Error::Crypto("sealed length"))
}
