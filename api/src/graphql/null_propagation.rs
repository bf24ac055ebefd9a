//! Field errors handled as the GraphQL spec says (§ "Handling Execution Errors"): a field that
//! fails is null, and a null where the schema promises a value makes the nearest nullable
//! ancestor null instead — up to `data` itself.
//!
//! async-graphql 7 does neither when a resolver returns an error: it leaves the field's key out
//! of its parent and keeps the siblings, so `{ a: ambiti { totalCount } e: entiGestori(first:
//! -1) { totalCount } }` answered `{"a": …}` with no `e`, where a client generated from the
//! schema (`EnteGestoreConnection!`) expects either the field or no `data`. This pass mends
//! an executed response after the fact, from each error's path, the operation, and the
//! schema's field types; responses without errors are not touched.

use std::collections::HashMap;

use async_graphql::parser::types::{
    BaseType, ExecutableDocument, Selection, SelectionSet, Type, TypeKind as DefinitionKind,
    TypeSystemDefinition,
};
use async_graphql::{PathSegment, Value};

/// Every output field's declared type, by (type, field), read once from the schema's SDL.
#[derive(Debug, Default)]
pub struct FieldTypes {
    fields: HashMap<(String, String), Type>,
}

impl FieldTypes {
    /// The field types of a schema's SDL (its root types named Query, Mutation, Subscription,
    /// as async-graphql names them).
    pub fn of_sdl(sdl: &str) -> Self {
        let mut fields = HashMap::new();
        let Ok(document) = async_graphql::parser::parse_schema(sdl) else {
            return Self { fields };
        };
        for definition in document.definitions {
            let TypeSystemDefinition::Type(ty) = definition else {
                continue;
            };
            let ty = ty.node;
            let own = match ty.kind {
                DefinitionKind::Object(o) => o.fields,
                DefinitionKind::Interface(i) => i.fields,
                _ => continue,
            };
            for field in own {
                let field = field.node;
                fields.insert(
                    (ty.name.node.to_string(), field.name.node.to_string()),
                    field.ty.node,
                );
            }
        }
        Self { fields }
    }

    fn of(&self, parent: &str, field: &str) -> Option<&Type> {
        self.fields.get(&(parent.to_owned(), field.to_owned()))
    }
}

/// Makes `response` what the spec's null propagation gives for its errors. `query` and
/// `operation_name` are the request's; a query that does not parse (its errors have no path)
/// or a path this cannot follow leaves the response as it is.
pub fn propagate(
    types: &FieldTypes,
    query: &str,
    operation_name: Option<&str>,
    response: &mut async_graphql::Response,
) {
    if response.errors.iter().all(|e| e.path.is_empty()) {
        return;
    }
    let Ok(document) = async_graphql::parser::parse_query(query) else {
        return;
    };
    let Some((root, selection)) = operation(&document, operation_name) else {
        return;
    };
    for error in &response.errors {
        if error.path.is_empty() || response.data == Value::Null {
            continue;
        }
        if let Some(nullable) = nullability(types, &document, root, selection, &error.path) {
            null_out(&mut response.data, &error.path, &nullable);
        }
    }
}

/// The operation run and its root type's name.
fn operation<'a>(
    document: &'a ExecutableDocument,
    name: Option<&str>,
) -> Option<(&'static str, &'a SelectionSet)> {
    let op = super::documents::selected_operation(document, name)?;
    let root = match op.ty {
        async_graphql::parser::types::OperationType::Query => "Query",
        async_graphql::parser::types::OperationType::Mutation => "Mutation",
        async_graphql::parser::types::OperationType::Subscription => "Subscription",
    };
    Some((root, &op.selection_set.node))
}

/// Whether each position of `path` may be null: the field's declared type at a field's
/// name, the list's item type at an index.
fn nullability(
    types: &FieldTypes,
    document: &ExecutableDocument,
    root: &str,
    selection: &SelectionSet,
    path: &[PathSegment],
) -> Option<Vec<bool>> {
    let mut sets: Vec<(&SelectionSet, String)> = vec![(selection, root.to_owned())];
    let mut current: Option<&Type> = None;
    let mut nullable = Vec::with_capacity(path.len());
    for segment in path {
        match segment {
            PathSegment::Field(key) => {
                let mut found: Option<&Type> = None;
                let mut below = Vec::new();
                for (set, parent) in &sets {
                    fields_answering(types, document, set, parent, key, &mut |ty, sub| {
                        found.get_or_insert(ty);
                        below.push((sub, named(ty).to_owned()));
                    });
                }
                let ty = found?;
                nullable.push(ty.nullable);
                current = Some(ty);
                sets = below;
            }
            PathSegment::Index(_) => {
                let BaseType::List(item) = &current?.base else {
                    return None;
                };
                nullable.push(item.nullable);
                current = Some(item);
            }
        }
    }
    Some(nullable)
}

/// Calls `found` with the type and sub-selection of every field of `set` (fragments
/// included) whose response key is `key`; validation made them all of one type.
fn fields_answering<'a>(
    types: &'a FieldTypes,
    document: &'a ExecutableDocument,
    set: &'a SelectionSet,
    parent: &str,
    key: &str,
    found: &mut dyn FnMut(&'a Type, &'a SelectionSet),
) {
    for selection in &set.items {
        match &selection.node {
            Selection::Field(field) => {
                let field = &field.node;
                if field.response_key().node.as_str() != key {
                    continue;
                }
                if let Some(ty) = types.of(parent, field.name.node.as_str()) {
                    found(ty, &field.selection_set.node);
                }
            }
            Selection::InlineFragment(fragment) => {
                let fragment = &fragment.node;
                let on = fragment
                    .type_condition
                    .as_ref()
                    .map_or(parent, |c| c.node.on.node.as_str());
                fields_answering(
                    types,
                    document,
                    &fragment.selection_set.node,
                    on,
                    key,
                    found,
                );
            }
            Selection::FragmentSpread(spread) => {
                if let Some(fragment) = document.fragments.get(&spread.node.fragment_name.node) {
                    let fragment = &fragment.node;
                    fields_answering(
                        types,
                        document,
                        &fragment.selection_set.node,
                        fragment.type_condition.node.on.node.as_str(),
                        key,
                        found,
                    );
                }
            }
        }
    }
}

/// The named type under any list wrappers.
fn named(ty: &Type) -> &str {
    match &ty.base {
        BaseType::Named(name) => name.as_str(),
        BaseType::List(item) => named(item),
    }
}

/// Nulls the first position of `path` that failed (missing, or null already), then each
/// ancestor while the position below it may not be null.
fn null_out(data: &mut Value, path: &[PathSegment], nullable: &[bool]) {
    let Some(failed) =
        (0..path.len()).find(|&i| !matches!(at(data, &path[..=i]), Some(v) if *v != Value::Null))
    else {
        return;
    };
    let mut i = failed;
    set_null(data, &path[..=i]);
    while !nullable[i] {
        if i == 0 {
            *data = Value::Null;
            return;
        }
        i -= 1;
        set_null(data, &path[..=i]);
    }
}

fn at<'v>(data: &'v Value, path: &[PathSegment]) -> Option<&'v Value> {
    path.iter()
        .try_fold(data, |value, segment| match (value, segment) {
            (Value::Object(map), PathSegment::Field(key)) => map.get(key.as_str()),
            (Value::List(items), PathSegment::Index(i)) => items.get(*i),
            _ => None,
        })
}

/// Sets the value at `path` to null, adding the key to its object if it was left out.
fn set_null(data: &mut Value, path: &[PathSegment]) {
    let Some((last, parents)) = path.split_last() else {
        *data = Value::Null;
        return;
    };
    let mut value = data;
    for segment in parents {
        value = match (value, segment) {
            (Value::Object(map), PathSegment::Field(key)) => match map.get_mut(key.as_str()) {
                Some(v) => v,
                None => return,
            },
            (Value::List(items), PathSegment::Index(i)) => match items.get_mut(*i) {
                Some(v) => v,
                None => return,
            },
            _ => return,
        };
    }
    match (value, last) {
        (Value::Object(map), PathSegment::Field(key)) => {
            map.insert(async_graphql::Name::new(key), Value::Null);
        }
        (Value::List(items), PathSegment::Index(i)) => {
            if let Some(item) = items.get_mut(*i) {
                *item = Value::Null;
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::{Response, ServerError};

    const SDL: &str = "type Query { xs: [Item!] ys: [Item]! one: Item! }
                       type Item { name: String! note: String }";

    /// The response to `query` after its field at `path` failed and was left out, as
    /// async-graphql leaves it.
    fn mended(query: &str, data: serde_json::Value, path: &[PathSegment]) -> serde_json::Value {
        let mut error = ServerError::new("refused", None);
        error.path = path.to_vec();
        let mut response = Response::new(Value::from_json(data).unwrap());
        response.errors = vec![error];
        propagate(&FieldTypes::of_sdl(SDL), query, None, &mut response);
        response.data.into_json().unwrap()
    }

    fn field(key: &str) -> PathSegment {
        PathSegment::Field(key.to_owned())
    }

    #[test]
    fn a_non_null_field_in_a_list_nulls_the_list_or_only_its_item_as_their_types_allow() {
        let query = "{ xs { name note } ys { name } one { note } }";
        let data = serde_json::json!({
            "xs": [{"name": "a", "note": null}, {"note": "b"}],
            "ys": [{"name": "c"}, {}],
            "one": {"note": null}
        });
        // Items of `xs` may not be null; `xs` may.
        let xs = mended(
            query,
            data.clone(),
            &[field("xs"), PathSegment::Index(1), field("name")],
        );
        assert_eq!(xs["xs"], serde_json::Value::Null, "{xs}");
        assert_eq!(xs["ys"], data["ys"], "{xs}");
        // Items of `ys` may be null: only the item is.
        let ys = mended(
            query,
            data.clone(),
            &[field("ys"), PathSegment::Index(1), field("name")],
        );
        assert_eq!(ys["ys"], serde_json::json!([{"name": "c"}, null]), "{ys}");
        assert_eq!(ys["xs"], data["xs"], "{ys}");
    }

    #[test]
    fn a_nullable_field_left_out_is_put_back_as_null_and_an_unknown_path_changes_nothing() {
        let query = "{ one { alias: note name } }";
        let data = serde_json::json!({"one": {"name": "d"}});
        let noted = mended(query, data.clone(), &[field("one"), field("alias")]);
        assert_eq!(
            noted,
            serde_json::json!({"one": {"name": "d", "alias": null}})
        );
        let unknown = mended(query, data.clone(), &[field("one"), field("nowhere")]);
        assert_eq!(unknown, data);
    }
}
