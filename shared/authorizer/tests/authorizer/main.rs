//! The authorizer's contract (docs/API.md "Authorizer events" and "Protected routes"), proven
//! with the sample events API Gateway sends (`events/authorizer-*.json`).
//!
//! Modules are `#[cfg(test)]` so that clippy treats their helpers as test code, where a
//! panic is a failed assertion (clippy.toml allows unwrap there).

#[cfg(test)]
mod allow;
#[cfg(test)]
mod events;
#[cfg(test)]
mod fuzz;
#[cfg(test)]
mod helpers;
#[cfg(test)]
mod http_api_cache;
#[cfg(test)]
mod reject;
#[cfg(test)]
mod scopes;
#[cfg(test)]
mod typed;
