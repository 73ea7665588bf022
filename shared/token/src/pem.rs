//! RSA private keys as PEM: the one key that cannot be derived, so it travels inside the
//! secret value.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::RsaKeyPair;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroizing;

use crate::error::KeyError;
use crate::secret::KeyMaterial;

/// Decodes a PEM block: PKCS#8 `PRIVATE KEY` or PKCS#1 `RSA PRIVATE KEY`, 2048 bits or more.
pub(crate) fn load_rsa_pem(pem: &str) -> Result<RsaKeyPair, KeyError> {
    let pem = pem.trim();
    let (label, rest) = if let Some(rest) = pem.strip_prefix("-----BEGIN PRIVATE KEY-----") {
        ("-----END PRIVATE KEY-----", rest)
    } else if let Some(rest) = pem.strip_prefix("-----BEGIN RSA PRIVATE KEY-----") {
        ("-----END RSA PRIVATE KEY-----", rest)
    } else {
        return Err(KeyError::Pem(
            "expected a PRIVATE KEY or RSA PRIVATE KEY block",
        ));
    };
    let body = rest
        .strip_suffix(label)
        .ok_or(KeyError::Pem("missing end line"))?;
    let b64_body: Zeroizing<String> =
        Zeroizing::new(body.chars().filter(|c| !c.is_ascii_whitespace()).collect());
    let der = KeyMaterial::from_vec(
        STANDARD
            .decode(b64_body.as_bytes())
            .map_err(|_| KeyError::Pem("invalid base64"))?,
    );
    let key = if label.contains("RSA") {
        RsaKeyPair::from_der(der.expose_secret())
    } else {
        RsaKeyPair::from_pkcs8(der.expose_secret())
    }
    .map_err(|e| KeyError::InvalidRsaKey(e.to_string()))?;
    if key.public_modulus_len() < 256 {
        return Err(KeyError::InvalidRsaKey("smaller than 2048 bits".to_owned()));
    }
    Ok(key)
}

/// A fresh RSA-2048 key as PKCS#8 PEM.
pub(crate) fn generate_rsa_pem() -> Result<Zeroizing<String>, KeyError> {
    let key = RsaKeyPair::generate(KeySize::Rsa2048).map_err(|_| KeyError::Generation)?;
    let der = key.as_der().map_err(|_| KeyError::Generation)?;
    let body = Zeroizing::new(STANDARD.encode(der.as_ref()));
    let mut pem = Zeroizing::new(String::with_capacity(body.len() + 100));
    pem.push_str("-----BEGIN PRIVATE KEY-----\n");
    for line in body.as_bytes().chunks(64) {
        // base64 output is ASCII, so every chunk is valid UTF-8.
        pem.push_str(std::str::from_utf8(line).map_err(|_| KeyError::Generation)?);
        pem.push('\n');
    }
    pem.push_str("-----END PRIVATE KEY-----\n");
    Ok(pem)
}
