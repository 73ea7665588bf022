//! Tessera use cases and HTTP handlers.
