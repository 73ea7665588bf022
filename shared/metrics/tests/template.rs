//! The dashboard in template.yaml shows exactly the outcomes the code reports: a new
//! outcome without its line on the dashboard, or a line for an outcome no code emits, fails.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;

use tessera_metrics::UseCase;

#[test]
fn the_dashboard_shows_every_outcome_of_every_use_case_and_no_other() {
    let template =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../template.yaml"))
            .unwrap();
    let shown: BTreeSet<(String, String)> = template
        .lines()
        .filter_map(|line| {
            let rest = line.split(r#""UseCase", ""#).nth(1)?;
            let (use_case, rest) = rest.split_once('"')?;
            let outcome = rest.split(r#""Outcome", ""#).nth(1)?.split('"').next()?;
            Some((use_case.to_owned(), outcome.to_owned()))
        })
        .collect();
    let emitted: BTreeSet<(String, String)> = UseCase::ALL
        .iter()
        .flat_map(|u| {
            u.outcomes()
                .iter()
                .map(move |o| (u.as_str().to_owned(), o.as_str().to_owned()))
        })
        .collect();
    assert_eq!(shown, emitted);
}
