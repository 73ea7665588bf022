//! Tables from criterion's saved estimates, with each measurement next to the floor measured
//! in the same run and the budget the ratio must meet.
//!
//! criterion writes `<dir>/<group>/<function>/new/estimates.json` for every benchmark; the
//! median is used throughout (robust to the noise of a shared machine).

use std::fmt::Write as _;
use std::path::Path;

/// Token verify budgets: verify / raw primitive, per algorithm (issue #7).
pub const VERIFY_BUDGETS: [(&str, f64); 4] = [
    ("EdDSA", 1.10),
    ("ES256", 1.15),
    ("RS256", 1.15),
    ("HS256", 3.0),
];

/// Authorizer decision budget: decision / token verify.
pub const DECISION_BUDGET: f64 = 1.2;

/// The events of the decision benchmark, in table order; each has a budget.
pub const DECISION_EVENTS: [&str; 3] = ["rest-token", "rest-request", "http-v2"];

/// A what-if row of the decision benchmark, without a budget: the REST REQUEST event parsed
/// into a `serde_json::Value` first, as `LambdaEvent<Value>` would hand it over.
pub const DECISION_VIA_VALUE: &str = "rest-request-via-value";

/// The median, in nanoseconds, of one benchmark; `None` when it has not run.
pub fn median_ns(dir: &Path, group: &str, function: &str) -> Option<f64> {
    let path = dir
        .join(group)
        .join(function)
        .join("new")
        .join("estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    json.pointer("/median/point_estimate")?.as_f64()
}

fn us(ns: Option<f64>) -> String {
    ns.map_or_else(|| "—".to_owned(), |ns| format!("{:.2}", ns / 1000.0))
}

fn verdict(ratio: Option<f64>, budget: f64) -> (String, &'static str) {
    match ratio {
        Some(r) => (
            format!("{r:.2}x"),
            if r <= budget { "met" } else { "NOT met" },
        ),
        None => ("—".to_owned(), "not run"),
    }
}

/// Token issue/verify per algorithm against the raw primitive (bench `token`).
pub fn token_table(dir: &Path) -> String {
    let mut out = String::from(
        "| alg | raw primitive µs | verify µs | verify / raw | budget | | issue µs |\n\
         |---|---:|---:|---:|---:|---|---:|\n",
    );
    for (alg, budget) in VERIFY_BUDGETS {
        let raw = median_ns(dir, alg, "raw");
        let verify = median_ns(dir, alg, "verify");
        let issue = median_ns(dir, alg, "issue");
        let ratio = raw.zip(verify).map(|(r, v)| v / r);
        let (ratio, met) = verdict(ratio, budget);
        let _ = writeln!(
            out,
            "| {alg} | {} | {} | {ratio} | <= {budget:.2}x | {met} | {} |",
            us(raw),
            us(verify),
            us(issue)
        );
    }
    out
}

/// Authorizer decision per event type against token verify (bench `decision`).
pub fn decision_table(dir: &Path) -> String {
    let verify = median_ns(dir, "es256", "verify");
    let mut out = format!(
        "| ES256 event | decision µs | decision / verify ({} µs) | budget | | without crypto µs |\n\
         |---|---:|---:|---:|---|---:|\n",
        us(verify)
    );
    for event in DECISION_EVENTS {
        let decision = median_ns(dir, "es256", event);
        let ratio = verify.zip(decision).map(|(v, d)| d / v);
        let (ratio, met) = verdict(ratio, DECISION_BUDGET);
        let _ = writeln!(
            out,
            "| {event} | {} | {ratio} | <= {DECISION_BUDGET:.1}x | {met} | {} |",
            us(decision),
            us(median_ns(dir, "no-crypto", event))
        );
    }
    let via_value = median_ns(dir, "es256", DECISION_VIA_VALUE);
    let ratio = verify
        .zip(via_value)
        .map_or_else(|| "—".to_owned(), |(v, d)| format!("{:.2}x", d / v));
    let _ = writeln!(
        out,
        "| {DECISION_VIA_VALUE} (what-if, not shipped) | {} | {ratio} | — | | — |",
        us(via_value)
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_estimate(dir: &Path, group: &str, function: &str, median_ns: f64) {
        let at = dir.join(group).join(function).join("new");
        std::fs::create_dir_all(&at).unwrap();
        let json = serde_json::json!({"median": {"point_estimate": median_ns}});
        std::fs::write(at.join("estimates.json"), json.to_string()).unwrap();
    }

    #[test]
    fn a_ratio_over_budget_is_reported_as_not_met_and_a_missing_run_as_not_run() {
        let dir = std::env::temp_dir().join(format!("tessera-bench-tables-{}", std::process::id()));
        write_estimate(&dir, "EdDSA", "raw", 27_000.0);
        write_estimate(&dir, "EdDSA", "verify", 28_000.0);
        write_estimate(&dir, "ES256", "raw", 36_000.0);
        write_estimate(&dir, "ES256", "verify", 45_000.0);
        let table = token_table(&dir);
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(table.contains("| EdDSA | 27.00 | 28.00 | 1.04x | <= 1.10x | met |"));
        assert!(table.contains("| ES256 | 36.00 | 45.00 | 1.25x | <= 1.15x | NOT met |"));
        assert!(table.contains("| HS256 | — | — | — | <= 3.00x | not run |"));
    }
}
