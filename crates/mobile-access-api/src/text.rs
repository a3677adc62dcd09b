//! Enums spoken as fixed text (in JSON, and by the cloud in its database), and the errors of
//! reading them and of values out of range.

/// An enum whose every variant has one fixed text form.
pub trait TextEnum: Sized + Copy + 'static {
    /// The enum's name, for messages.
    const NAME: &'static str;
    /// Every text form, in declaration order: what the OpenAPI document lists.
    const TEXTS: &'static [&'static str];

    /// The text form.
    fn as_str(self) -> &'static str;

    /// The variant with text form `text`.
    fn parse(text: &str) -> Result<Self, UnknownText>;
}

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

/// Declares a [`TextEnum`] that serializes as its text form.
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

        impl $crate::TextEnum for $name {
            const NAME: &'static str = stringify!($name);
            const TEXTS: &'static [&'static str] = $name::TEXTS;

            fn as_str(self) -> &'static str {
                $name::as_str(self)
            }

            fn parse(text: &str) -> Result<Self, $crate::UnknownText> {
                $name::parse(text)
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

    fn round_trips<T: super::TextEnum + PartialEq + std::fmt::Debug + serde::Serialize>() {
        for text in T::TEXTS {
            let value = T::parse(text).unwrap();
            assert_eq!(value.as_str(), *text);
            assert_eq!(serde_json::to_value(value).unwrap(), serde_json::Value::from(*text), "JSON speaks the text");
        }
        let unknown = T::parse("Tap ").unwrap_err();
        assert_eq!(unknown.kind, T::NAME);
        assert!(unknown.to_string().contains("\"Tap \""));
    }

    #[test]
    fn every_text_form_parses_back_and_is_what_json_speaks() {
        round_trips::<UnlockMethod>();
        round_trips::<ReaderMode>();
        round_trips::<CredentialKind>();
        round_trips::<Role>();
        round_trips::<MailState>();
        round_trips::<WatchBinding>();
    }
}
