//! The checked-in SDL matches the server, and the server implements the public contract
//! (`../shared/api/contract.graphql`) with its exact names and shapes.

use std::collections::BTreeMap;
use std::path::PathBuf;

use async_graphql::parser::types::{BaseType, Type, TypeKind, TypeSystemDefinition};

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn checked_in_schema_matches_the_server() {
    let checked_in = std::fs::read_to_string(workspace().join("schema.graphql")).unwrap();
    assert!(
        checked_in == api::graphql::sdl(),
        "schema.graphql is out of date: run `cargo run -p api -- schema > schema.graphql`"
    );
}

fn type_string(t: &Type) -> String {
    let base = match &t.base {
        BaseType::Named(n) => n.to_string(),
        BaseType::List(inner) => format!("[{}]", type_string(inner)),
    };
    if t.nullable {
        base
    } else {
        format!("{base}!")
    }
}

/// type name → member → its type. Members are fields, `field(argument)`s, enum values (with
/// an empty type) and `implements Interface`s. Our schema may add members; the contract's
/// must all be there with the same types (extra arguments must be optional).
fn shapes(sdl: &str) -> BTreeMap<String, BTreeMap<String, String>> {
    let doc = async_graphql::parser::parse_schema(sdl).expect("valid SDL");
    let mut out = BTreeMap::new();
    for def in doc.definitions {
        let TypeSystemDefinition::Type(t) = def else {
            continue;
        };
        let t = t.node;
        let mut members = BTreeMap::new();
        match &t.kind {
            TypeKind::Object(o) => {
                for iface in &o.implements {
                    members.insert(format!("implements {}", iface.node), String::new());
                }
                for f in &o.fields {
                    let name = f.node.name.node.to_string();
                    members.insert(name.clone(), type_string(&f.node.ty.node));
                    for a in &f.node.arguments {
                        members.insert(
                            format!("{name}({})", a.node.name.node),
                            type_string(&a.node.ty.node),
                        );
                    }
                }
            }
            TypeKind::Interface(i) => {
                for f in &i.fields {
                    members.insert(f.node.name.node.to_string(), type_string(&f.node.ty.node));
                }
            }
            TypeKind::InputObject(i) => {
                for f in &i.fields {
                    members.insert(f.node.name.node.to_string(), type_string(&f.node.ty.node));
                }
            }
            TypeKind::Enum(e) => {
                for v in &e.values {
                    members.insert(v.node.value.node.to_string(), String::new());
                }
            }
            TypeKind::Scalar | TypeKind::Union(_) => {}
        }
        out.insert(t.name.node.to_string(), members);
    }
    out
}

/// Parts of the contract that later issues deliver. Each entry is removed when it lands; the
/// test fails if an entry is implemented but still listed, so the list cannot go stale.
const PENDING: &[&str] = &[];

#[test]
fn server_implements_the_contract_exactly() {
    let contract_path = workspace().join("../shared/api/contract.graphql");
    let contract = std::fs::read_to_string(&contract_path)
        .unwrap_or_else(|e| panic!("{}: {e}", contract_path.display()));
    let ours = shapes(&api::graphql::sdl());
    let theirs = shapes(&contract);
    let mut missing = Vec::new();
    let mut still_pending = Vec::new();
    for (type_name, members) in &theirs {
        let pending_type = PENDING.contains(&type_name.as_str());
        let Some(our_members) = ours.get(type_name) else {
            if !pending_type {
                missing.push(format!("type {type_name}"));
            }
            continue;
        };
        if pending_type && members.keys().all(|m| our_members.contains_key(m)) {
            still_pending.push(type_name.clone());
        }
        for (member, shape) in members {
            let key = format!("{type_name}.{member}");
            let field_key = key.split('(').next().unwrap_or(&key);
            let pending =
                pending_type || PENDING.contains(&field_key) || PENDING.contains(&key.as_str());
            match our_members.get(member) {
                Some(ours) if ours == shape && !pending_type && PENDING.contains(&key.as_str()) => {
                    still_pending.push(key)
                }
                Some(ours) if ours == shape => {}
                Some(ours) if !pending => {
                    missing.push(format!("{key}: contract {shape}, server {ours}"))
                }
                None if !pending => missing.push(key),
                _ => {}
            }
        }
    }
    for (type_name, members) in &ours {
        for (member, ty) in members {
            let Some(field) = member.split_once('(').map(|(f, _)| f) else {
                continue;
            };
            let contract = theirs.get(type_name);
            let contract_field = contract.is_some_and(|m| m.contains_key(field));
            let contract_arg = contract.is_some_and(|m| m.contains_key(member));
            if contract_field && !contract_arg && ty.ends_with('!') {
                missing.push(format!(
                    "{type_name}.{member} is a required argument the contract lacks"
                ));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "the server departs from the contract:\n{}",
        missing.join("\n")
    );
    assert!(
        still_pending.is_empty(),
        "implemented but still listed as pending: {still_pending:?}"
    );
}
