//! Unpadded base64url, strict: no padding, no whitespace, canonical trailing bits.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

pub(crate) fn encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub(crate) fn encode_into(bytes: &[u8], out: &mut String) {
    URL_SAFE_NO_PAD.encode_string(bytes, out);
}

pub(crate) fn decode(s: &[u8]) -> Result<Vec<u8>, base64::DecodeError> {
    URL_SAFE_NO_PAD.decode(s)
}

/// Decodes into `out`, returning the decoded length; fails if `out` is too small.
pub(crate) fn decode_slice(s: &[u8], out: &mut [u8]) -> Result<usize, base64::DecodeSliceError> {
    URL_SAFE_NO_PAD.decode_slice(s, out)
}
