//! Lowercase hex, as the provisioning JSON carries byte strings.

/// Lowercase hex of `bytes`.
pub(crate) fn encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The bytes of lowercase hex `text`; `None` on odd length, uppercase or non-hex characters.
pub(crate) fn decode(text: &str) -> Option<Vec<u8>> {
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    if !text.len().is_multiple_of(2) {
        return None;
    }
    text.as_bytes().chunks(2).map(|pair| Some(digit(*pair.first()?)? << 4 | digit(*pair.get(1)?)?)).collect()
}

/// Exactly `N` bytes of lowercase hex.
pub(crate) fn decode_array<const N: usize>(text: &str) -> Option<[u8; N]> {
    decode(text)?.try_into().ok()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn round_trips(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            prop_assert_eq!(super::decode(&super::encode(&bytes)), Some(bytes));
        }

        #[test]
        fn never_panics_and_refuses_non_canonical(text in "\\PC{0,40}") {
            if let Some(bytes) = super::decode(&text) {
                prop_assert_eq!(super::encode(&bytes), text);
            }
        }
    }

    #[test]
    fn uppercase_is_refused() {
        assert_eq!(super::decode("AB"), None);
        assert_eq!(super::decode("abc"), None);
        assert_eq!(super::decode_array::<2>("00ff"), Some([0, 255]));
        assert_eq!(super::decode_array::<2>("00"), None);
    }
}
