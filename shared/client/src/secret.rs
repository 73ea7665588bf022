//! Secret newtypes: the password a user types and the two tokens the service hands out.
//!
//! Every type here prints `[redacted]` under `Debug`, has no `Display`, hands its content
//! out only through `expose_secret()`, and zeroizes its memory on drop.

use std::fmt;

use zeroize::Zeroizing;

const REDACTED: &str = "[redacted]";

/// Compares without an early exit, so the time taken does not tell how many leading bytes
/// match.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

macro_rules! secret_string {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone)]
        pub struct $name(Zeroizing<String>);

        impl $name {
            /// Wraps a secret string (as typed by a user, or as read back from token storage).
            pub fn new(secret: impl Into<String>) -> Self {
                Self(Zeroizing::new(secret.into()))
            }

            /// The secret itself, for sending it to the service or persisting it. Never log it.
            pub fn expose_secret(&self) -> &str {
                &self.0
            }
        }

        /// Constant-time in the content (only the length can show in the timing).
        impl PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                constant_time_eq(self.0.as_bytes(), other.0.as_bytes())
            }
        }

        impl Eq for $name {}

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(REDACTED)
            }
        }
    };
}

secret_string!(
    /// A user's password, sent once to `/auth/login` and never kept by the client.
    Password
);

secret_string!(
    /// A bearer access token: whoever holds it may call the API as the user until it expires.
    AccessToken
);

secret_string!(
    /// A refresh token: trades for a new token pair once (the service rotates it on use).
    RefreshToken
);
