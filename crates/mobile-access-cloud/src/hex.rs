//! Lowercase hex, the one way bytes travel in the JSON API and in tokens.

/// Lowercase hex of `bytes`. Digit by digit, not through `write!`: every credential, id and
/// revocation list a key download returns is hex, and formatting machinery per byte was a
/// visible part of an issuance's CPU time.
pub fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(digit(byte >> 4));
        out.push(digit(byte & 0x0f));
    }
    out
}

/// The lowercase hex digit of a nibble (`n` < 16).
fn digit(n: u8) -> char {
    char::from(if n < 10 { b'0' + n } else { b'a' + (n - 10) })
}

/// Decodes hex (either case). `None` on odd length or a non-hex character.
pub fn decode(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    text.as_bytes()
        .chunks_exact(2)
        .map(|pair| match pair {
            [hi, lo] => Some((nibble(*hi)? << 4) | nibble(*lo)?),
            _ => None,
        })
        .collect()
}

/// Decodes hex into exactly `N` bytes.
pub fn decode_array<const N: usize>(text: &str) -> Option<[u8; N]> {
    decode(text)?.try_into().ok()
}

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn decode_inverts_encode(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let text = super::encode(&bytes);
            prop_assert_eq!(text.len(), bytes.len() * 2);
            prop_assert!(text.bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)));
            prop_assert_eq!(super::decode(&text), Some(bytes.clone()));
            prop_assert_eq!(super::decode(&text.to_uppercase()), Some(bytes));
        }

        #[test]
        fn decode_never_panics_and_accepts_only_hex(text in "\\PC{0,64}") {
            let valid = text.len() % 2 == 0 && text.bytes().all(|c| c.is_ascii_hexdigit());
            prop_assert_eq!(super::decode(&text).is_some(), valid);
        }
    }

    #[test]
    fn round_trips_and_rejects_garbage() {
        let bytes = [0x00, 0x7f, 0x80, 0xff];
        assert_eq!(super::encode(&bytes), "007f80ff");
        assert_eq!(super::decode("007F80ff").as_deref(), Some(&bytes[..]));
        assert_eq!(super::decode("abc"), None);
        assert_eq!(super::decode("zz"), None);
        assert_eq!(super::decode_array::<2>("0011"), Some([0, 0x11]));
        assert_eq!(super::decode_array::<3>("0011"), None);
    }
}
