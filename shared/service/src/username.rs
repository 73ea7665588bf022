//! Usernames, normalised once so that "Alice " and "alice" are one account.

use crate::ServiceError;

/// The longest username, in characters.
pub const MAX_USERNAME_CHARS: usize = 128;

/// A normalised username: trimmed, lowercase, 1 to 128 characters, no control characters.
///
/// Unicode normalisation (NFC) is not applied: the workspace carries no Unicode tables, so a
/// name typed in decomposed form is a different name. Lowercasing is Unicode-aware.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Username(String);

impl Username {
    /// Normalises and checks a username as typed by a user or an administrator.
    pub fn parse(raw: &str) -> Result<Self, ServiceError> {
        let name = raw.trim().to_lowercase();
        if name.is_empty() {
            return Err(ServiceError::InvalidRequest("username is required"));
        }
        if name.chars().count() > MAX_USERNAME_CHARS {
            return Err(ServiceError::InvalidRequest("username is too long"));
        }
        if name.chars().any(char::is_control) {
            return Err(ServiceError::InvalidRequest(
                "username contains control characters",
            ));
        }
        Ok(Self(name))
    }

    /// The normalised name, as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_and_lowercases() {
        assert_eq!(
            Username::parse("  Alice@Example.COM \n").unwrap().as_str(),
            "alice@example.com"
        );
        assert_eq!(Username::parse("ÉLODIE").unwrap().as_str(), "élodie");
    }

    #[test]
    fn refuses_empty_long_and_control_characters() {
        for bad in ["", "   ", "a\u{0}b", "a\tb", "bell\u{7}"] {
            assert!(Username::parse(bad).is_err(), "{bad:?}");
        }
        assert!(Username::parse(&"a".repeat(MAX_USERNAME_CHARS)).is_ok());
        assert!(Username::parse(&"a".repeat(MAX_USERNAME_CHARS + 1)).is_err());
        // Characters, not bytes: 128 two-byte characters fit.
        assert!(Username::parse(&"é".repeat(MAX_USERNAME_CHARS)).is_ok());
    }
}
