//! Placeholder while the shared handler lands.
fn main() {}
