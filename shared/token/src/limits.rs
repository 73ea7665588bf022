//! The crate's limits. A leaf: every other module may read them, none is read from here.

/// Tokens longer than this are rejected before any parsing, and never issued.
pub const MAX_TOKEN_BYTES: usize = 8192;

/// The shortest root secret accepted, in bytes.
pub const MIN_ROOT_SECRET_BYTES: usize = 32;

/// The clock-skew allowance used unless a policy says otherwise, in seconds.
pub const DEFAULT_LEEWAY_SECS: u64 = 30;

/// The largest leeway a verifier applies; larger policy values are clamped to it.
pub const MAX_LEEWAY_SECS: u64 = 60;
