//! Issuing: the compact JWS `header.payload.signature`, with the header encoded once per
//! key.

use aws_lc_rs::hmac;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, RsaKeyPair};
use serde::Serialize;

use crate::algorithm::Algorithm;
use crate::b64;
use crate::error::TokenError;
use crate::jws::{Typ, issued_header};
use crate::limits::MAX_TOKEN_BYTES;
use crate::secret::wipe;

/// A private signing key.
pub(crate) enum Signer {
    Es256(EcdsaKeyPair),
    EdDsa(Ed25519KeyPair),
    Rs256(RsaKeyPair),
    Hs256(Box<hmac::Key>),
}

impl Signer {
    /// Appends the base64url signature of `input` to `out`.
    fn sign_into(&self, input: &[u8], out: &mut String) -> Result<(), TokenError> {
        match self {
            Self::Es256(k) => {
                let sig = k
                    .sign(&SystemRandom::new(), input)
                    .map_err(|_| TokenError::Signing)?;
                b64::encode_into(sig.as_ref(), out);
            }
            Self::EdDsa(k) => {
                let sig = k.try_sign(input).map_err(|_| TokenError::Signing)?;
                b64::encode_into(sig.as_ref(), out);
            }
            Self::Rs256(k) => {
                let mut sig = vec![0u8; k.public_modulus_len()];
                k.sign(
                    &signature::RSA_PKCS1_SHA256,
                    &SystemRandom::new(),
                    input,
                    &mut sig,
                )
                .map_err(|_| TokenError::Signing)?;
                b64::encode_into(&sig, out);
            }
            Self::Hs256(k) => b64::encode_into(hmac::sign(k, input).as_ref(), out),
        }
        Ok(())
    }
}

/// One key that signs: its pre-encoded header and its private key.
pub(crate) struct SigningKey {
    header_b64: String,
    signer: Signer,
}

impl SigningKey {
    pub(crate) fn new(alg: Algorithm, typ: Typ, kid: &str, signer: Signer) -> Self {
        Self {
            header_b64: issued_header(alg, typ, kid),
            signer,
        }
    }

    /// The header segment this key writes (the one verification recognises byte for byte).
    #[cfg(test)]
    pub(crate) fn header_b64(&self) -> &str {
        &self.header_b64
    }

    /// `header.payload.signature` for these claims.
    pub(crate) fn sign<C: Serialize>(&self, claims: &C) -> Result<String, TokenError> {
        let payload = serde_json::to_vec(claims).map_err(|e| TokenError::Json(e.to_string()))?;
        // header.payload, then the signature (at most 683 characters, for RSA-4096).
        let mut out =
            String::with_capacity(self.header_b64.len() + 1 + payload.len().div_ceil(3) * 4 + 700);
        out.push_str(&self.header_b64);
        out.push('.');
        b64::encode_into(&payload, &mut out);
        if out.len() > MAX_TOKEN_BYTES {
            return Err(TokenError::TooLarge);
        }
        let mut sig = String::with_capacity(700);
        self.signer.sign_into(out.as_bytes(), &mut sig)?;
        out.push('.');
        out.push_str(&sig);
        if out.len() > MAX_TOKEN_BYTES {
            wipe(out);
            return Err(TokenError::TooLarge);
        }
        Ok(out)
    }
}
