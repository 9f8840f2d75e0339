//! The repository's copies of the contract (`api/contract/`) equal the published ones wherever
//! both are present, and the served schema keeps the contract (`api/contract/schema.graphql`):
//! every type, field,
//! argument (with its type and default), enum value, input field, scalar and `@oneOf` of the
//! contract exists in the served SDL with the same type. The served schema may add, never
//! remove or change; what it adds to an existing field or input must be optional.
//!
//! Both documents are parsed and compared element by element, not as strings; a failure lists
//! every difference.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use async_graphql::parser::parse_schema;
use async_graphql::parser::types::{
    BaseType, InputValueDefinition, ServiceDocument, Type, TypeDefinition, TypeKind,
    TypeSystemDefinition,
};
use async_graphql::Positioned;

/// The contract's folder as published next to this repository, when it is there (a checkout
/// beside `shared/`).
const SHARED_CONTRACT_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/contract");

/// The repository's own copies of the contract's files (`schema.graphql`, `INDICATORS.md`,
/// `CLI.md`), so that every checkout has them.
const CONTRACT_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/contract");

/// The repository's own copy of the contract, so that the check runs in any checkout; it must
/// equal the published one wherever both are present.
const CONTRACT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/contract/schema.graphql");

/// The type definitions of `sdl`, by name, and the root operation type names.
struct Document {
    types: BTreeMap<String, TypeDefinition>,
    roots: [String; 3],
}

fn parse(what: &str, sdl: &str) -> Document {
    let document: ServiceDocument =
        parse_schema(sdl).unwrap_or_else(|error| panic!("the {what} does not parse: {error}"));
    let mut types = BTreeMap::new();
    let mut roots = [
        "Query".to_owned(),
        "Mutation".to_owned(),
        "Subscription".to_owned(),
    ];
    for definition in document.definitions {
        match definition {
            TypeSystemDefinition::Type(ty) => {
                types.insert(ty.node.name.node.to_string(), ty.node);
            }
            TypeSystemDefinition::Schema(schema) => {
                let schema = schema.node;
                for (slot, name) in roots.iter_mut().zip([
                    schema.query.map(|n| n.node.to_string()),
                    schema.mutation.map(|n| n.node.to_string()),
                    schema.subscription.map(|n| n.node.to_string()),
                ]) {
                    if let Some(name) = name {
                        *slot = name;
                    }
                }
            }
            TypeSystemDefinition::Directive(_) => {}
        }
    }
    Document { types, roots }
}

fn kind_name(kind: &TypeKind) -> &'static str {
    match kind {
        TypeKind::Scalar => "scalar",
        TypeKind::Object(_) => "type",
        TypeKind::Interface(_) => "interface",
        TypeKind::Union(_) => "union",
        TypeKind::Enum(_) => "enum",
        TypeKind::InputObject(_) => "input",
    }
}

fn is_one_of(ty: &TypeDefinition) -> bool {
    ty.directives
        .iter()
        .any(|directive| directive.node.name.node.as_str() == "oneOf")
}

fn is_optional(value: &InputValueDefinition) -> bool {
    value.ty.node.nullable || value.default_value.is_some()
}

fn type_string(ty: &Type) -> String {
    match &ty.base {
        BaseType::Named(name) => format!("{name}{}", if ty.nullable { "" } else { "!" }),
        BaseType::List(inner) => {
            format!(
                "[{}]{}",
                type_string(inner),
                if ty.nullable { "" } else { "!" }
            )
        }
    }
}

/// Compares argument or input field lists: `place` names the owner, e.g. `Query.beneficiaries`.
fn compare_values(
    place: &str,
    what: &str,
    contract: &[Positioned<InputValueDefinition>],
    served: &[Positioned<InputValueDefinition>],
    differences: &mut Vec<String>,
) {
    let served: BTreeMap<String, &InputValueDefinition> = served
        .iter()
        .map(|v| (v.node.name.node.to_string(), &v.node))
        .collect();
    for value in contract {
        let value = &value.node;
        let name = value.name.node.to_string();
        let Some(served_value) = served.get(&name) else {
            differences.push(format!("{place}: {what} `{name}` is missing"));
            continue;
        };
        let (expected, found) = (
            type_string(&value.ty.node),
            type_string(&served_value.ty.node),
        );
        if expected != found {
            differences.push(format!(
                "{place}: {what} `{name}` is {found}, the contract says {expected}"
            ));
        }
        let expected = value.default_value.as_ref().map(|d| d.node.to_string());
        let found = served_value
            .default_value
            .as_ref()
            .map(|d| d.node.to_string());
        if expected != found {
            differences.push(format!(
                "{place}: {what} `{name}` has default {}, the contract says {}",
                found.as_deref().unwrap_or("(none)"),
                expected.as_deref().unwrap_or("(none)")
            ));
        }
    }
    let contract_names: Vec<String> = contract
        .iter()
        .map(|v| v.node.name.node.to_string())
        .collect();
    for (name, value) in &served {
        if !contract_names.contains(name) && !is_optional(value) {
            differences.push(format!(
                "{place}: added {what} `{name}` is required ({}): additions must be nullable or \
                 have a default",
                type_string(&value.ty.node)
            ));
        }
    }
}

/// Every way `served` departs from `contract`, one line each.
fn differences(contract: &Document, served: &Document) -> Vec<String> {
    let mut differences = Vec::new();
    for (root, (expected, found)) in ["query", "mutation", "subscription"]
        .iter()
        .zip(contract.roots.iter().zip(served.roots.iter()))
    {
        if expected != found {
            differences.push(format!(
                "the {root} root type is {found}, the contract says {expected}"
            ));
        }
    }
    for (name, expected) in &contract.types {
        let Some(found) = served.types.get(name) else {
            differences.push(format!("{} {name} is missing", kind_name(&expected.kind)));
            continue;
        };
        if kind_name(&expected.kind) != kind_name(&found.kind) {
            differences.push(format!(
                "{name} is a {}, the contract says {}",
                kind_name(&found.kind),
                kind_name(&expected.kind)
            ));
            continue;
        }
        if is_one_of(expected) != is_one_of(found) {
            differences.push(format!(
                "input {name}: @oneOf is {}, the contract says {}",
                if is_one_of(found) {
                    "present"
                } else {
                    "absent"
                },
                if is_one_of(expected) {
                    "present"
                } else {
                    "absent"
                }
            ));
        }
        match (&expected.kind, &found.kind) {
            (TypeKind::Enum(expected), TypeKind::Enum(found)) => {
                let found: Vec<String> = found
                    .values
                    .iter()
                    .map(|v| v.node.value.node.to_string())
                    .collect();
                for value in &expected.values {
                    let value = value.node.value.node.to_string();
                    if !found.contains(&value) {
                        differences.push(format!("enum {name}: value {value} is missing"));
                    }
                }
            }
            (TypeKind::Object(expected), TypeKind::Object(found)) => {
                let found: BTreeMap<String, _> = found
                    .fields
                    .iter()
                    .map(|f| (f.node.name.node.to_string(), &f.node))
                    .collect();
                for field in &expected.fields {
                    let field = &field.node;
                    let field_name = field.name.node.to_string();
                    let place = format!("{name}.{field_name}");
                    let Some(served_field) = found.get(&field_name) else {
                        differences.push(format!("type {name}: field `{field_name}` is missing"));
                        continue;
                    };
                    let (expected_ty, found_ty) = (
                        type_string(&field.ty.node),
                        type_string(&served_field.ty.node),
                    );
                    if expected_ty != found_ty {
                        differences.push(format!(
                            "{place} is {found_ty}, the contract says {expected_ty}"
                        ));
                    }
                    compare_values(
                        &place,
                        "argument",
                        &field.arguments,
                        &served_field.arguments,
                        &mut differences,
                    );
                }
            }
            (TypeKind::InputObject(expected), TypeKind::InputObject(found)) => {
                compare_values(
                    &format!("input {name}"),
                    "field",
                    &expected.fields,
                    &found.fields,
                    &mut differences,
                );
            }
            _ => {}
        }
    }
    differences
}

/// Every file of the published contract has its copy in the repository, equal to it, wherever
/// both are present.
#[test]
fn the_repository_s_copies_equal_the_published_contract() {
    let Ok(published) = std::fs::read_dir(SHARED_CONTRACT_DIR) else {
        return;
    };
    for entry in published {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let copy = format!("{CONTRACT_DIR}/{name}");
        let copied = std::fs::read_to_string(&copy)
            .unwrap_or_else(|error| panic!("no copy of {} at {copy}: {error}", path.display()));
        assert_eq!(
            copied,
            std::fs::read_to_string(&path).unwrap(),
            "{copy} differs from the published {}: copy it again",
            path.display()
        );
    }
}

#[test]
fn the_served_schema_keeps_the_contract() {
    let contract_text = std::fs::read_to_string(CONTRACT)
        .unwrap_or_else(|error| panic!("cannot read the contract at {CONTRACT}: {error}"));
    let served_text = masar::graphql::sdl();
    let exported = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("served-schema.graphql");
    std::fs::write(&exported, &served_text).unwrap();

    let contract = parse("contract", &contract_text);
    let served = parse("served schema", &served_text);
    assert!(
        contract.types.len() > 60,
        "the contract parsed to only {} types",
        contract.types.len()
    );
    let differences = differences(&contract, &served);
    assert!(
        differences.is_empty(),
        "the served schema (exported to {}) departs from the contract in {} ways:\n  - {}",
        exported.display(),
        differences.len(),
        differences.join("\n  - ")
    );
}

#[test]
fn the_comparison_reports_each_kind_of_difference() {
    let contract = parse(
        "contract",
        r#"
        scalar UUID
        enum Role { ADMIN PARTNER }
        type Query { me: Role!, list(first: Int = 50, after: String): [Role!]! }
        input Choice @oneOf { a: Int, b: String }
        input Plain { x: [String!]! = [], y: String }
        "#,
    );
    let served = parse(
        "served",
        r#"
        enum Role { ADMIN }
        type Query { me: Role, list(first: Int = 10, extra: Int!): [Role!]!, more: Int }
        input Choice { a: Int, b: String }
        input Plain { x: [String!], y: String, z: Int = 3, w: Int! }
        "#,
    );
    let mut found = differences(&contract, &served);
    found.sort();
    let mut expected = vec![
        "scalar UUID is missing".to_owned(),
        "enum Role: value PARTNER is missing".to_owned(),
        "Query.me is Role, the contract says Role!".to_owned(),
        "Query.list: argument `first` has default 10, the contract says 50".to_owned(),
        "Query.list: argument `after` is missing".to_owned(),
        "Query.list: added argument `extra` is required (Int!): additions must be nullable or \
         have a default"
            .to_owned(),
        "input Choice: @oneOf is absent, the contract says present".to_owned(),
        "input Plain: field `x` is [String!], the contract says [String!]!".to_owned(),
        "input Plain: field `x` has default (none), the contract says []".to_owned(),
        "input Plain: added field `w` is required (Int!): additions must be nullable or have a \
         default"
            .to_owned(),
    ];
    expected.sort();
    assert_eq!(found, expected);
}
