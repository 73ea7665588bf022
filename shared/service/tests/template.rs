//! template.yaml against the one route table: the template declares exactly the routes of
//! [`ROUTES`], each on the function the table names and behind the authorizer exactly where the
//! table says, and exactly the functions of [`Function::ALL`], each building its binary.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeSet;

use tessera_service::{Function, ROUTES};
use yaml_rust2::{Yaml, YamlLoader};

const TEMPLATE: &str = include_str!("../../../template.yaml");

/// (logical id, binary) of a function.
type DeclaredFunction = (String, String);
/// (method, path, logical id, protected) of an API event.
type DeclaredRoute = (String, String, String, bool);

/// Every function and every API event, as the template declares them.
fn declared() -> (BTreeSet<DeclaredFunction>, BTreeSet<DeclaredRoute>) {
    let docs = YamlLoader::load_from_str(TEMPLATE).unwrap();
    let Yaml::Hash(resources) = &docs[0]["Resources"] else {
        panic!("template.yaml has no Resources");
    };
    let mut functions = BTreeSet::new();
    let mut routes = BTreeSet::new();
    for (id, resource) in resources {
        if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let id = id.as_str().unwrap().to_owned();
        let binary = resource["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .unwrap_or_else(|| panic!("{id} names no binary"));
        functions.insert((id.clone(), binary.to_owned()));
        let Yaml::Hash(events) = &resource["Properties"]["Events"] else {
            continue;
        };
        for (_, event) in events {
            if event["Type"].as_str() != Some("Api") {
                continue;
            }
            let properties = &event["Properties"];
            let protected = !properties["Auth"]["Authorizer"].is_badvalue();
            routes.insert((
                properties["Method"].as_str().unwrap().to_ascii_uppercase(),
                properties["Path"].as_str().unwrap().to_owned(),
                id.clone(),
                protected,
            ));
        }
    }
    (functions, routes)
}

#[test]
fn the_template_declares_exactly_the_route_table() {
    let (_, declared_routes) = declared();
    let table: BTreeSet<_> = ROUTES
        .iter()
        .map(|r| {
            (
                r.method.to_owned(),
                r.path.to_owned(),
                r.function.logical_id().to_owned(),
                r.protected,
            )
        })
        .collect();
    assert_eq!(declared_routes, table);
}

#[test]
fn the_template_deploys_exactly_the_functions_each_with_its_binary() {
    let (declared_functions, _) = declared();
    let all: BTreeSet<_> = Function::ALL
        .iter()
        .map(|f| (f.logical_id().to_owned(), f.binary().to_owned()))
        .collect();
    assert_eq!(declared_functions, all);
}

#[test]
fn no_route_requires_a_scope_the_template_cannot_express() {
    // The template protects routes with the authorizer only; a per-route scope would need a
    // rule in AUTHORIZER_SCOPE_RULES, which is the deployment's to choose.
    assert!(ROUTES.iter().all(|r| r.scope.is_none() || r.protected));
}

#[test]
fn the_preflight_the_template_answers_is_the_one_serve_answers() {
    let docs = YamlLoader::load_from_str(TEMPLATE).unwrap();
    let cors = &docs[0]["Resources"]["Api"]["Properties"]["Cors"];
    assert_eq!(
        cors["AllowHeaders"].as_str(),
        Some(format!("'{}'", tessera_service::cors::ALLOW_HEADERS).as_str())
    );
    assert_eq!(
        cors["AllowMethods"].as_str(),
        Some(format!("'{}'", tessera_service::cors::ALLOW_METHODS).as_str())
    );
}
