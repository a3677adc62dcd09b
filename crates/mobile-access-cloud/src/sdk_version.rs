//! The oldest SDK the cloud still serves.
//!
//! When a change to what the cloud issues would break older apps (a new credential format, say),
//! the operator starts the cloud with `--min-sdk-version`. A request whose `User-Agent` names an
//! older `mobile-access-sdk/<version>` is then answered `426 app_update_required`; the SDK shows
//! "update the app" before the next tap, and keys already on phones keep opening doors until they
//! expire. Requests from anything else (the console, scripts, readers) are not concerned.

use std::{fmt, str::FromStr};

/// `MAJOR.MINOR.PATCH`, compared numerically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SdkVersion(pub u32, pub u32, pub u32);

/// What the SDK sends before its version in `User-Agent`.
const PRODUCT: &str = "mobile-access-sdk/";

impl SdkVersion {
    /// The SDK's version in a `User-Agent` (`mobile-access-sdk/0.1.0`, perhaps followed by
    /// comments); `None` for any other client.
    pub fn from_user_agent(user_agent: &str) -> Option<Self> {
        let rest = user_agent.strip_prefix(PRODUCT)?;
        rest.split([' ', ';', '(']).next()?.parse().ok()
    }
}

impl FromStr for SdkVersion {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || format!("{text:?} is not a MAJOR.MINOR.PATCH version");
        let mut parts = text.split('.');
        let mut next = || -> Result<u32, String> {
            let part = parts.next().ok_or_else(bad)?;
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            part.parse().map_err(|_| bad())
        };
        let version = SdkVersion(next()?, next()?, next()?);
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(version)
    }
}

impl fmt::Display for SdkVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use proptest::prelude::*;

    use super::*;

    #[test]
    fn only_the_sdk_s_user_agent_names_a_version() {
        assert_eq!(SdkVersion::from_user_agent("mobile-access-sdk/0.1.0"), Some(SdkVersion(0, 1, 0)));
        assert_eq!(SdkVersion::from_user_agent("mobile-access-sdk/1.12.3 (Android 14)"), Some(SdkVersion(1, 12, 3)));
        assert_eq!(SdkVersion::from_user_agent("curl/8.5.0"), None);
        assert_eq!(SdkVersion::from_user_agent("mobile-access-sdk/1.2"), None);
        assert!("1.2.3.4".parse::<SdkVersion>().is_err() && "1.+2.3".parse::<SdkVersion>().is_err());
        assert!(SdkVersion(0, 10, 0) > SdkVersion(0, 9, 9), "numeric, not text, order");
    }

    proptest! {
        #[test]
        fn a_version_reads_back_as_written(a: u32, b: u32, c: u32) {
            let version = SdkVersion(a, b, c);
            prop_assert_eq!(version.to_string().parse::<SdkVersion>(), Ok(version));
        }

        #[test]
        fn any_user_agent_is_read_without_panicking(text in ".*") {
            let _ = SdkVersion::from_user_agent(&text);
        }
    }
}
