//! Secret newtypes, all defined by one macro so that every one is handled the same way:
//! `Debug` prints `Name([redacted])`, there is no `Display` and no `PartialEq` (comparing
//! secrets with `==` is not constant-time), the content comes out only through
//! `expose_secret()`, and the memory is zeroized on drop.

use zeroize::Zeroize;

/// Defines a redacted secret newtype around a zeroizing `String` or `Vec<u8>`.
///
/// Derives nothing itself: a type that may be copied says `#[derive(Clone)]`. Constructors
/// are written per type, because who may create each secret differs. Exported, so that the
/// service's secrets (a password, a presented refresh token) are made the same way.
#[macro_export]
macro_rules! redacted_secret {
    (
        $(#[$attr:meta])*
        $vis:vis struct $name:ident($inner:ty);
        $(#[$expose_doc:meta])*
        fn expose_secret -> &$exposed:ty;
    ) => {
        $(#[$attr])*
        $vis struct $name($crate::__zeroize::Zeroizing<$inner>);

        impl $name {
            $(#[$expose_doc])*
            ///
            /// # Security
            ///
            /// This is the only way to the secret. Do not log it, put it in an error, a
            /// metric or a span, or compare it with `==` (not constant-time). Copies made
            /// from the returned reference are not wiped on drop.
            $vis fn expose_secret(&self) -> &$exposed {
                &self.0
            }
        }

        impl ::std::fmt::Debug for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(concat!(stringify!($name), "([redacted])"))
            }
        }
    };
}

redacted_secret! {
    /// A signed access token (a compact JWS). A bearer credential: treat it as a secret.
    #[derive(Clone)]
    pub struct AccessToken(String);
    /// The compact token, for the response body.
    fn expose_secret -> &str;
}

impl AccessToken {
    pub(crate) fn new(s: String) -> Self {
        Self(zeroize::Zeroizing::new(s))
    }
}

redacted_secret! {
    /// A signed refresh token (a compact JWS, HS256). A bearer credential: treat it as a
    /// secret.
    #[derive(Clone)]
    pub struct RefreshToken(String);
    /// The compact token, for the response body.
    fn expose_secret -> &str;
}

impl RefreshToken {
    pub(crate) fn new(s: String) -> Self {
        Self(zeroize::Zeroizing::new(s))
    }
}

redacted_secret! {
    /// Raw private key material: a derived HMAC key, Ed25519 seed or P-256 scalar, or a
    /// decoded PEM. Lives only while a key is being loaded; the crypto library keeps (and
    /// clears on free) its own copy. Not `Clone`: nothing needs a second copy.
    pub(crate) struct KeyMaterial(Vec<u8>);
    /// The key bytes, to hand to the crypto library.
    fn expose_secret -> &[u8];
}

impl KeyMaterial {
    pub(crate) fn zeroed(len: usize) -> Self {
        Self(zeroize::Zeroizing::new(vec![0u8; len]))
    }

    pub(crate) fn from_vec(v: Vec<u8>) -> Self {
        Self(zeroize::Zeroizing::new(v))
    }

    pub(crate) fn expose_secret_mut(&mut self) -> &mut [u8] {
        &mut self.0
    }
}

/// Clears a `String` that held a secret before it is dropped.
pub(crate) fn wipe(mut s: String) {
    s.zeroize();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_material_debug_names_the_type_and_shows_no_byte() {
        let k = KeyMaterial::from_vec(b"very secret key bytes".to_vec());
        assert_eq!(format!("{k:?}"), "KeyMaterial([redacted])");
        assert_eq!(k.expose_secret(), b"very secret key bytes");
    }
}
