//! Tessera's tokens. No I/O.
