//! Tessera's users and sessions.
