//! Integers in request bodies as JSON Schema reads them: `5` and `5.0` are the same integer
//! (serde alone refuses the second, and a client in a language with one number type may send
//! it). A fraction, or a value out of the field's range, is refused.

use serde::{Deserialize, Deserializer, de::Error as _};

/// A whole number that fits `T`.
pub fn number<'de, D: Deserializer<'de>, T: TryFrom<i64>>(deserializer: D) -> Result<T, D::Error> {
    let n = serde_json::Number::deserialize(deserializer)?;
    let whole = n.as_i64().or_else(|| {
        n.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15).map(|f| {
            #[allow(clippy::cast_possible_truncation, reason = "whole and within ±2^53")]
            let i = f as i64;
            i
        })
    });
    whole
        .and_then(|i| T::try_from(i).ok())
        .ok_or_else(|| D::Error::custom(format!("{n} is not a whole number in this field's range")))
}

/// Same, or `null`.
pub fn optional<'de, D: Deserializer<'de>, T: TryFrom<i64>>(deserializer: D) -> Result<Option<T>, D::Error> {
    #[derive(Deserialize)]
    struct Whole<T: TryFrom<i64>>(#[serde(deserialize_with = "number")] T);
    Ok(Option::<Whole<T>>::deserialize(deserializer)?.map(|Whole(value)| value))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    struct Body {
        #[serde(deserialize_with = "super::number")]
        n: u8,
        #[serde(default, deserialize_with = "super::optional")]
        o: Option<i8>,
    }

    fn read(json: &str) -> Result<Body, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn whole_numbers_in_either_spelling_and_nothing_else() {
        assert_eq!(read(r#"{"n": 5}"#).unwrap().n, 5);
        assert_eq!(read(r#"{"n": 5.0}"#).unwrap().n, 5);
        assert!(read(r#"{"n": 5.5}"#).is_err(), "a fraction");
        assert!(read(r#"{"n": 256}"#).is_err(), "out of the field's range");
        assert!(read(r#"{"n": -1}"#).is_err());
        assert!(read(r#"{"n": "5"}"#).is_err(), "a string");
        assert_eq!(read(r#"{"n": 1, "o": -55.0}"#).unwrap().o, Some(-55));
        assert_eq!(read(r#"{"n": 1, "o": null}"#).unwrap().o, None);
        assert_eq!(read(r#"{"n": 1}"#).unwrap().o, None);
    }
}
