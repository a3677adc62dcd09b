//! Enums spoken as fixed text (in JSON, and by the cloud in its database), and the errors of
//! reading them and of values out of range.

/// A text that names no variant of the enum it was read as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownText {
    /// The enum's name.
    pub kind: &'static str,
    /// What was read.
    pub text: String,
}

impl std::fmt::Display for UnknownText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "unknown {} {:?}", self.kind, self.text)
    }
}

impl std::error::Error for UnknownText {}

/// A value outside what the contract allows, e.g. a page limit of 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutOfRange(pub String);

impl std::fmt::Display for OutOfRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for OutOfRange {}

/// Declares an enum whose every variant has one fixed text form, which is also its JSON.
macro_rules! text_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        pub enum $name {
            $($(#[$vdoc])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            /// Every text form, in declaration order: what the OpenAPI document lists.
            pub const TEXTS: &'static [&'static str] = &[$($text),+];

            /// The text form.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }

            /// The variant with text form `text`.
            pub fn parse(text: &str) -> Result<Self, $crate::UnknownText> {
                match text {
                    $($text => Ok(Self::$variant),)+
                    other => Err($crate::UnknownText { kind: stringify!($name), text: other.to_owned() }),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::UnknownText;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                Self::parse(text)
            }
        }
    };
}

pub(crate) use text_enum;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use crate::{CredentialKind, MailState, ReaderMode, Role, UnlockMethod, WatchBinding};

    /// Every text form parses back to a variant that prints and serializes as that text; other
    /// text is refused, naming the enum.
    macro_rules! round_trips {
        ($($kind:ident),+) => {$(
            for text in $kind::TEXTS {
                let value = $kind::parse(text).unwrap();
                assert_eq!(value.as_str(), *text);
                assert_eq!(value.to_string(), *text);
                assert_eq!(serde_json::to_value(value).unwrap(), serde_json::Value::from(*text), "JSON speaks the text");
            }
            let unknown = $kind::parse("Tap ").unwrap_err();
            assert_eq!(unknown.kind, stringify!($kind));
            assert!(unknown.to_string().contains("\"Tap \""));
        )+};
    }

    #[test]
    fn every_text_form_parses_back_and_is_what_json_speaks() {
        round_trips!(UnlockMethod, ReaderMode, CredentialKind, Role, MailState, WatchBinding);
    }
}
