//! Tessera's benchmark tooling: a load generator for `tessera serve` and the tables of
//! BENCHMARKS.md.
//!
//! `tessera-load` drives a running `tessera serve` over keep-alive HTTP/1.1 connections on a
//! loopback address only (it refuses anything else), within a time and a request-count
//! bound, and reports throughput, latency quantiles and, given the server's pid, the CPU
//! time the server spent per request. `tessera-bench-tables` turns criterion's saved
//! estimates into tables with the same-run floor and the budget next to each number.
//! `scripts/bench` runs everything. Limits: Linux (CPU time comes from /proc), plain HTTP.

pub mod cpu;
pub mod floor;
pub mod http;
pub mod load;
pub mod tables;
