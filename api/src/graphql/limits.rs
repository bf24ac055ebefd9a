//! Limits on the shape of a query, checked at the edge once it is parsed (HTTP and WebSocket
//! alike): at most `MAX_ALIASES` aliased fields, and no field repeated more than
//! `MAX_REPEATS` times along one path (cyclic queries such as ambito → enti → ambiti → enti
//! …); nesting and size with fragments expanded (`MAX_RECURSIVE_DEPTH`,
//! `MAX_EXPANDED_SELECTIONS`); at most `MAX_TRANSCRIPTS` whole transcripts, estimated from
//! the page sizes above them; and no mutation without a token. Field depth and complexity
//! are bounded by the schema itself (`build_schema`).
//!
//! The list items a request asks for are bounded while it runs (`PageBudget`): how many
//! pages a nested connection asks for depends on how many objects the level above really
//! returned, which no look at the query alone can tell. Estimated from `first` alone, the
//! front ends' nested reads (cases × interviews × `quotations(first: 1000)` for a whole
//! study) would cost as much as the cyclic quotation → interview → quotations floods this
//! budget is there to stop.
//!
//! The checks run before the executor rather than as an async-graphql extension: with any
//! extension installed the executor wraps every field of every object in the extension
//! chain, which cost 0.10–0.18 ms of a 0.7–0.8 ms search for 20 hits.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::task::Poll;

use async_graphql::parser::types::{
    BaseType, ExecutableDocument, Field, FragmentDefinition, OperationType, Selection,
    SelectionSet, Type, TypeKind, TypeSystemDefinition,
};
use async_graphql::{Context, Name, Request, ServerError, Value, Variables};

use super::documents::selected_operation;
use super::error::refusal;

use crate::auth::Caller;
use crate::service::page::DEFAULT_PAGE;

pub const MAX_ALIASES: usize = 50;
pub const MAX_REPEATS: usize = 3;
pub const MAX_DEPTH: usize = 16;
pub const MAX_COMPLEXITY: usize = 2_000;
/// Nesting with fragments expanded, counted as async-graphql counts it. The schema enforces
/// it too, but only after these checks, whose walk follows fragment spreads: a chain of
/// thousands of fragments would otherwise recurse here until the stack overflows.
pub const MAX_RECURSIVE_DEPTH: usize = 32;
/// Selections (fields, spreads, inline fragments) visited with fragments expanded: a
/// fragment spread twice, spreading one spread twice, and so on, doubles the walk at every
/// level.
pub const MAX_EXPANDED_SELECTIONS: usize = 20_000;
/// Whole transcripts one operation may return, each estimated as the product of the list
/// sizes above it. A transcript is the one value that weighs tens of kilobytes, and a list
/// of quotations, each with its interview's transcript, repeats it once per quotation. Twice
/// what reading every interview of every case of a study at the default page size asks for
/// (50 × 50).
pub const MAX_TRANSCRIPTS: u64 = 5_000;
/// The size assumed for a list that takes no `first` (enti of an ambito, codes of a
/// quotation, cells of a matrix) when estimating transcripts.
pub const UNPAGED_ESTIMATE: u64 = 100;
/// List items one request (or one event of a subscription) may ask for while it runs: every
/// page of a connection counts its `first` (`DEFAULT_PAGE` when absent), once for each
/// object it is asked on. A front end's 100 interviews with 50 quotations each ask for
/// 5,100; quotations → interview → quotations(first: 1000) on the demo's 127 quotations
/// for 144,000.
pub const MAX_PAGE_ITEMS: usize = 100_000;
/// `first` beyond this counts as this (the resolvers refuse it anyway).
const MAX_COUNTED_FIRST: u64 = 10_000;

/// Connection plumbing repeats legitimately at every level, and so does introspection's
/// `ofType` (GraphiQL's schema query nests it nine deep for `[[T!]!]!`-like types; it ends at
/// a named type, and the depth limit bounds it anyway).
const PLUMBING: &[&str] = &["edges", "node", "pageInfo", "__typename", "ofType"];

/// What the walk needs to know of one field of the schema.
struct FieldShape {
    /// The named type, lists and non-null unwrapped.
    ty: String,
    list: bool,
    /// The page size when `first` is not given, for fields that take `first`.
    first_default: Option<u64>,
}

/// The schema's types as the limits see them, read once from its SDL (the registry
/// async-graphql builds is not public).
struct Shapes {
    /// The root types of queries, mutations and subscriptions.
    roots: [String; 3],
    fields: HashMap<String, HashMap<String, FieldShape>>,
    /// Fields returning one page of a connection (or of search hits), by name, with their
    /// default page size.
    pages: HashMap<String, u64>,
}

impl Shapes {
    fn from_sdl(sdl: &str) -> Self {
        let doc = async_graphql::parser::parse_schema(sdl).expect("the schema's own SDL parses");
        let mut shapes = Shapes {
            roots: ["Query", "Mutation", "Subscription"].map(str::to_owned),
            fields: HashMap::new(),
            pages: HashMap::new(),
        };
        for definition in doc.definitions {
            match definition {
                TypeSystemDefinition::Schema(s) => {
                    for (ty, name) in [
                        (OperationType::Query, s.node.query),
                        (OperationType::Mutation, s.node.mutation),
                        (OperationType::Subscription, s.node.subscription),
                    ] {
                        if let Some(name) = name {
                            shapes.roots[root_index(ty)] = name.node.to_string();
                        }
                    }
                }
                TypeSystemDefinition::Type(t) => {
                    let fields = match &t.node.kind {
                        TypeKind::Object(o) => &o.fields,
                        TypeKind::Interface(i) => &i.fields,
                        _ => continue,
                    };
                    let mut shaped = HashMap::new();
                    for f in fields {
                        let f = &f.node;
                        let (ty, list) = named(&f.ty.node);
                        let first_default = f
                            .arguments
                            .iter()
                            .find(|a| a.node.name.node == "first")
                            .map(|a| {
                                a.node
                                    .default_value
                                    .as_ref()
                                    .and_then(|v| count_of(&v.node))
                                    .unwrap_or(DEFAULT_PAGE as u64)
                            });
                        if let (Some(default), false) = (first_default, list) {
                            let page = shapes.pages.entry(f.name.node.to_string()).or_default();
                            *page = (*page).max(default);
                        }
                        shaped.insert(
                            f.name.node.to_string(),
                            FieldShape {
                                ty,
                                list,
                                first_default,
                            },
                        );
                    }
                    shapes.fields.insert(t.node.name.node.to_string(), shaped);
                }
                _ => {}
            }
        }
        shapes
    }

    fn root(&self, ty: OperationType) -> &str {
        &self.roots[root_index(ty)]
    }

    fn field(&self, ty: &str, name: &str) -> Option<&FieldShape> {
        self.fields.get(ty)?.get(name)
    }
}

fn root_index(ty: OperationType) -> usize {
    match ty {
        OperationType::Query => 0,
        OperationType::Mutation => 1,
        OperationType::Subscription => 2,
    }
}

/// The named type under lists and non-nulls, and whether there was a list.
fn named(ty: &Type) -> (String, bool) {
    match &ty.base {
        BaseType::Named(n) => (n.to_string(), false),
        BaseType::List(inner) => (named(inner).0, true),
    }
}

/// A page size as given: negative counts as none, anything huge as `MAX_COUNTED_FIRST`.
fn count_of(value: &Value) -> Option<u64> {
    match value {
        Value::Number(n) => n.as_i64().map(|n| (n.max(0) as u64).min(MAX_COUNTED_FIRST)),
        _ => None,
    }
}

static SHAPES: OnceLock<Shapes> = OnceLock::new();

/// Learns the schema's shape from its SDL, once per process (`build_schema_with` calls it).
pub(crate) fn learn_schema(sdl: impl FnOnce() -> String) {
    if SHAPES.get().is_none() {
        let shapes = Shapes::from_sdl(&sdl());
        let _ = SHAPES.set(shapes);
    }
}

fn shapes() -> &'static Shapes {
    if SHAPES.get().is_none() {
        // Building the schema learns its shape.
        let _ = super::build_schema();
    }
    SHAPES
        .get()
        .expect("the schema's shape is learnt when it is built")
}

/// Where the walk is: the type whose fields are selected, how many objects of it the
/// estimate expects, and the page size when it is a page of a connection.
#[derive(Clone, Copy)]
struct Place<'a> {
    ty: Option<&'a str>,
    count: u64,
    page: Option<u64>,
}

struct Walk<'a> {
    fragments: &'a HashMap<Name, async_graphql::Positioned<FragmentDefinition>>,
    shapes: &'a Shapes,
    variables: &'a Variables,
    /// The default values of the variables of the operation walked.
    defaults: HashMap<&'a str, &'a Value>,
    aliases: usize,
    selections: usize,
    transcripts: u64,
}

impl<'a> Walk<'a> {
    fn visit(
        &mut self,
        set: &'a SelectionSet,
        at: Place<'a>,
        depth: usize,
        path: &mut Vec<String>,
        fragments_seen: &mut Vec<Name>,
    ) -> Result<(), String> {
        if depth > MAX_RECURSIVE_DEPTH {
            return Err(format!(
                "the query nests deeper than {MAX_RECURSIVE_DEPTH} levels (fragments included)"
            ));
        }
        for item in &set.items {
            self.selections += 1;
            if self.selections > MAX_EXPANDED_SELECTIONS {
                return Err(format!(
                    "the query has more than {MAX_EXPANDED_SELECTIONS} selections once its fragments are expanded"
                ));
            }
            match &item.node {
                Selection::Field(f) => {
                    let f = &f.node;
                    // Variables stand in as null here: their values are checked apart.
                    if f.arguments.iter().any(|(_, v)| {
                        v.node
                            .clone()
                            .into_const_with(|_| Ok::<_, std::convert::Infallible>(Value::Null))
                            .is_ok_and(|v| holds_nul(&v))
                    }) {
                        return Err(NUL_REFUSED.into());
                    }
                    if f.alias.is_some() {
                        self.aliases += 1;
                        if self.aliases > MAX_ALIASES {
                            return Err(format!(
                                "the query has more than {MAX_ALIASES} aliased fields"
                            ));
                        }
                    }
                    let name = f.name.node.to_string();
                    if !PLUMBING.contains(&name.as_str())
                        && path.iter().filter(|p| **p == name).count() >= MAX_REPEATS
                    {
                        return Err(format!(
                            "`{name}` is nested more than {MAX_REPEATS} times in one path: cyclic queries are refused"
                        ));
                    }
                    let inner = self.place_of(f, at);
                    if at.ty == Some("Interview") && name == "transcript" {
                        self.transcripts = self.transcripts.saturating_add(inner.count);
                        if self.transcripts > MAX_TRANSCRIPTS {
                            return Err(format!(
                                "the query may return about {} whole transcripts, more than the \
                                 {MAX_TRANSCRIPTS} a request may (each counts once for every item \
                                 of the lists above it: `first`, {DEFAULT_PAGE} when absent, \
                                 {UNPAGED_ESTIMATE} for a list without `first`): ask for smaller \
                                 pages, or for transcripts apart from the lists",
                                self.transcripts
                            ));
                        }
                    }
                    if !f.selection_set.node.items.is_empty() {
                        path.push(name);
                        self.visit(
                            &f.selection_set.node,
                            inner,
                            depth + 1,
                            path,
                            fragments_seen,
                        )?;
                        path.pop();
                    }
                }
                Selection::InlineFragment(i) => {
                    let ty = i.node.type_condition.as_ref();
                    let at = Place {
                        ty: ty.map(|c| c.node.on.node.as_str()).or(at.ty),
                        ..at
                    };
                    self.visit(
                        &i.node.selection_set.node,
                        at,
                        depth + 1,
                        path,
                        fragments_seen,
                    )?
                }
                Selection::FragmentSpread(s) => {
                    let name = &s.node.fragment_name.node;
                    if fragments_seen.contains(name) {
                        return Err("fragments must not spread themselves".into());
                    }
                    if let Some(def) = self.fragments.get(name) {
                        let at = Place {
                            ty: Some(def.node.type_condition.node.on.node.as_str()),
                            ..at
                        };
                        fragments_seen.push(name.clone());
                        self.visit(
                            &def.node.selection_set.node,
                            at,
                            depth + 1,
                            path,
                            fragments_seen,
                        )?;
                        fragments_seen.pop();
                    }
                }
            }
        }
        Ok(())
    }

    /// The place a field's selection is made in: its type, and as many objects as the
    /// place above times the field's list size.
    fn place_of(&self, f: &Field, at: Place<'a>) -> Place<'a> {
        let Some(shape) = at.ty.and_then(|ty| self.shapes.field(ty, &f.name.node)) else {
            return Place { ty: None, ..at };
        };
        let ty = Some(shape.ty.as_str());
        let asked = shape.first_default.map(|d| self.first(f).unwrap_or(d));
        match (shape.list, asked) {
            (false, page) => Place {
                ty,
                count: at.count,
                page,
            },
            (true, Some(n)) => Place {
                ty,
                count: at.count.saturating_mul(n),
                page: None,
            },
            (true, None) => {
                let n = match (f.name.node.as_str(), at.page) {
                    ("edges" | "nodes", Some(page)) => page,
                    _ => UNPAGED_ESTIMATE,
                };
                Place {
                    ty,
                    count: at.count.saturating_mul(n),
                    page: None,
                }
            }
        }
    }

    /// The `first` a field is given, written or through a variable.
    fn first(&self, f: &Field) -> Option<u64> {
        let (_, value) = f.arguments.iter().find(|(n, _)| n.node == "first")?;
        let value = value
            .node
            .clone()
            .into_const_with(|name| {
                Ok::<_, std::convert::Infallible>(
                    self.variables
                        .get(&name)
                        .or_else(|| self.defaults.get(name.as_str()).copied())
                        .cloned()
                        .unwrap_or(Value::Null),
                )
            })
            .ok()?;
        count_of(&value)
    }
}

/// No database keeps U+0000 in text (PostgreSQL refuses it, SQLite cuts strings there), and
/// no transcript, label or memo needs it: such input is refused whole, in one place, rather
/// than failing as a database error wherever it is written.
const NUL_REFUSED: &str = "text must not contain NUL (U+0000) characters";

fn holds_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::List(items) => items.iter().any(holds_nul),
        Value::Object(fields) => fields.values().any(holds_nul),
        _ => false,
    }
}

/// Checks a document's shape, with the variables it is sent with.
pub fn check(doc: &ExecutableDocument, variables: &Variables) -> Result<(), String> {
    let mut walk = Walk {
        fragments: &doc.fragments,
        shapes: shapes(),
        variables,
        defaults: HashMap::new(),
        aliases: 0,
        selections: 0,
        transcripts: 0,
    };
    for (_, op) in doc.operations.iter() {
        let definitions = &op.node.variable_definitions;
        // A default is a value written in the query like any other.
        if definitions
            .iter()
            .filter_map(|d| d.node.default_value.as_ref())
            .any(|v| holds_nul(&v.node))
        {
            return Err(NUL_REFUSED.into());
        }
        walk.defaults = definitions
            .iter()
            .filter_map(|d| {
                Some((
                    d.node.name.node.as_str(),
                    &d.node.default_value.as_ref()?.node,
                ))
            })
            .collect();
        // Only one operation runs: each is bounded alone.
        walk.transcripts = 0;
        let root = Place {
            ty: Some(walk.shapes.root(op.node.ty)),
            count: 1,
            page: None,
        };
        walk.visit(
            &op.node.selection_set.node,
            root,
            0,
            &mut Vec::new(),
            &mut Vec::new(),
        )?;
    }
    Ok(())
}

/// Checks a request before it runs. The document parsed here stays in the request, and the
/// executor reuses it; a query that does not parse is left to the executor to report.
pub fn check_request(request: &mut Request, caller: &Caller) -> Result<(), ServerError> {
    if request.variables.values().any(holds_nul) {
        return Err(refusal(NUL_REFUSED, "BAD_USER_INPUT"));
    }
    // Taken out while the document is borrowed, rather than copied: they may hold a
    // transcript.
    let variables = std::mem::take(&mut request.variables);
    let checked = check_document(request, &variables, caller);
    request.variables = variables;
    checked
}

fn check_document(
    request: &mut Request,
    variables: &Variables,
    caller: &Caller,
) -> Result<(), ServerError> {
    let operation_name = request.operation_name.clone();
    let Ok(doc) = request.parsed_query() else {
        return Ok(());
    };
    check(doc, variables).map_err(|m| refusal(m, "BAD_USER_INPUT"))?;
    // Every write needs a token: refuse anonymous mutations before anything runs. Only the
    // operation that will run counts: a document may hold a mutation beside the query an
    // anonymous client selects.
    let mutation = match selected_operation(doc, operation_name.as_deref()) {
        Some(op) => op.ty == OperationType::Mutation,
        // The executor refuses the request without running anything; refused here alike
        // if it holds a mutation, should it ever pick one.
        None => doc
            .operations
            .iter()
            .any(|(_, op)| op.node.ty == OperationType::Mutation),
    };
    if mutation && caller.user.is_none() {
        return Err(refusal(
            "authentication required: send `Authorization: Bearer <token>`",
            "UNAUTHENTICATED",
        ));
    }
    if let Some(op) = selected_operation(doc, operation_name.as_deref()) {
        if op.ty == OperationType::Subscription {
            let mut keys = Vec::new();
            root_keys(doc, &op.selection_set.node, &mut Vec::new(), &mut keys);
            // The spec's "single root field" rule, which async-graphql leaves out: a socket
            // streams one subscription's events under its id.
            if keys.len() != 1 {
                return Err(refusal(
                    format!(
                        "a subscription selects exactly one root field, not {}: subscribe \
                         once for each",
                        keys.len()
                    ),
                    "BAD_USER_INPUT",
                ));
            }
        }
    }
    Ok(())
}

/// The response keys of an operation's root fields, fragments followed (each once).
fn root_keys<'a>(
    doc: &'a ExecutableDocument,
    set: &'a SelectionSet,
    followed: &mut Vec<&'a str>,
    keys: &mut Vec<&'a str>,
) {
    for item in &set.items {
        match &item.node {
            Selection::Field(f) => {
                let key = f.node.response_key().node.as_str();
                if !keys.contains(&key) {
                    keys.push(key);
                }
            }
            Selection::InlineFragment(f) => {
                root_keys(doc, &f.node.selection_set.node, followed, keys)
            }
            Selection::FragmentSpread(s) => {
                let name = s.node.fragment_name.node.as_str();
                if let Some(fragment) = doc.fragments.get(&s.node.fragment_name.node) {
                    if !followed.contains(&name) {
                        followed.push(name);
                        root_keys(doc, &fragment.node.selection_set.node, followed, keys);
                    }
                }
            }
        }
    }
}

/// The list items a request has asked for so far (see `MAX_PAGE_ITEMS`). Every resolver
/// reaches the request's data through `graphql::rc`, which charges here the page a
/// connection field asks for; `within_budget` stops the request once it is spent.
#[derive(Default)]
pub struct PageBudget(AtomicUsize);

impl PageBudget {
    /// Charges the page the field being resolved asks for, if it is a connection's (or
    /// search's) and its edges or nodes are selected: a page read only for `totalCount`
    /// holds no items.
    pub fn charge(&self, ctx: &Context<'_>) {
        let field = ctx.field();
        let Some(&default) = shapes().pages.get(field.name()) else {
            return;
        };
        if !field
            .selection_set()
            .any(|f| matches!(f.name(), "edges" | "nodes"))
        {
            return;
        }
        let first = field.arguments().ok().and_then(|arguments| {
            arguments
                .into_iter()
                .find(|(name, _)| name == "first")
                .and_then(|(_, v)| count_of(&v))
        });
        let items = first.unwrap_or(default) as usize;
        self.0.fetch_add(items, Ordering::Relaxed);
    }

    fn spent(&self) -> bool {
        self.0.load(Ordering::Relaxed) > MAX_PAGE_ITEMS
    }

    /// Starts counting again (a subscription's events are bounded one by one).
    pub fn reset(&self) {
        self.0.store(0, Ordering::Relaxed);
    }
}

/// Runs `execution` until it ends or has asked for more list items than `MAX_PAGE_ITEMS`;
/// then it is dropped (what it was doing is abandoned) and the refusal returned.
///
/// Charges happen while `execution` is polled, so looking after each poll misses none.
pub async fn within_budget<F: Future>(
    budget: &PageBudget,
    operation: OperationType,
    execution: F,
) -> Result<F::Output, ServerError> {
    let mut execution = std::pin::pin!(execution);
    let finished = std::future::poll_fn(|cx| match execution.as_mut().poll(cx) {
        _ if budget.spent() => Poll::Ready(None),
        Poll::Ready(output) => Poll::Ready(Some(output)),
        Poll::Pending => Poll::Pending,
    })
    .await;
    finished.ok_or_else(|| {
        let mut message = format!(
            "the query asks for more than {MAX_PAGE_ITEMS} list items (each page counts its \
             `first`, {DEFAULT_PAGE} when absent, once for every object it is asked on): ask \
             for smaller pages, or fewer nested lists"
        );
        if operation == OperationType::Mutation {
            message.push_str(
                "; the writes of the fields before the refused one may have been applied: \
                 reload before retrying",
            );
        }
        refusal(message, "BAD_USER_INPUT")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(q: &str) -> Result<(), String> {
        with_variables(q, serde_json::json!({}))
    }

    fn with_variables(q: &str, variables: serde_json::Value) -> Result<(), String> {
        let variables = Variables::from_json(variables);
        check(&async_graphql::parser::parse_query(q).unwrap(), &variables)
    }

    #[test]
    fn cycles_and_alias_floods_are_refused_deep_connections_are_not() {
        let cyclic = format!(
            "{{ ambito(code: \"24\") {{ {}code{} }} }}",
            "enti { ambiti { ".repeat(6),
            " } }".repeat(6)
        );
        assert!(shape(&cyclic).is_err(), "{cyclic}");
        assert!(
            shape("{ ambito(code: \"24\") { enti { ambiti { enti { code: acronym } } } } }")
                .is_ok()
        );
        assert!(shape("{ studies { edges { node { cases { edges { node { interviews { edges { node { quotations { edges { node { codes { parent { name } } } } } } } } } } } } } } }").is_ok());
        let many: String = (0..60).map(|n| format!("a{n}: me {{ id }} ")).collect();
        assert!(shape(&format!("{{ {many} }}")).is_err());
        assert!(
            shape("query { ...F } fragment F on Query { ...G } fragment G on Query { ...F }")
                .is_err()
        );
    }

    #[test]
    fn fragment_chains_and_doublings_are_refused_without_walking_them_all() {
        let chain: String = (0..50_000)
            .map(|n| format!("fragment F{n} on Query {{ ...F{} }} ", n + 1))
            .collect();
        let refused = shape(&format!(
            "query {{ ...F0 }} {chain} fragment F50000 on Query {{ me {{ id }} }}"
        ));
        assert!(refused.unwrap_err().contains("deeper than"));
        // Each level spreads the next twice: 2^30 leaves if walked.
        let doubling: String = (0..30)
            .map(|n| format!("fragment D{n} on Query {{ ...D{m} ...D{m} }} ", m = n + 1))
            .collect();
        let refused = shape(&format!(
            "query {{ ...D0 }} {doubling} fragment D30 on Query {{ me {{ id }} }}"
        ));
        assert!(refused.unwrap_err().contains("fragments are expanded"));
        // GraphiQL's own nesting (`ofType` nine deep) stays well inside the limits.
        let of_type = format!(
            "{{ __schema {{ types {{ {}name{} }} }} }}",
            "ofType { ".repeat(9),
            " }".repeat(9)
        );
        assert!(shape(&of_type).is_ok());
    }

    /// Each whole transcript counts once for every item of the lists above it, whatever
    /// spells their sizes: literals, variables, variable defaults, the schema's defaults,
    /// fragments.
    #[test]
    fn transcripts_count_the_list_sizes_above_them() {
        let nested = |first: &str| {
            format!(
                "{{ a: quotations(first: {first}) {{ edges {{ node {{ interview {{ quotations(first: {first}) {{ edges {{ node {{ interview {{ transcript }} }} }} }} }} }} }} }} }}"
            )
        };
        // 70 × 70 = 4,900 transcripts, then 71 × 71 = 5,041.
        assert!(shape(&nested("70")).is_ok());
        let refused = shape(&nested("71")).unwrap_err();
        assert!(refused.contains("5041 whole transcripts"), "{refused}");
        let q = "query($n: Int = 71) { quotations(first: $n) { edges { node { interview { quotations(first: $n) { edges { node { interview { transcript } } } } } } } } }";
        assert!(with_variables(q, serde_json::json!({})).is_err());
        assert!(with_variables(q, serde_json::json!({"n": 70})).is_ok());
        // Defaults: 50 interviews a case, 50 cases a page: 2,500.
        let every = "{ cases { edges { node { interviews { edges { node { transcript } } } } } } }";
        assert!(shape(every).is_ok());
        let inner = &every[1..every.len() - 1];
        assert!(shape(&format!("{{ a: {inner} b: {inner} c: {inner} }}")).is_err());
        // Through fragments, the page size of a connection reaches its edges.
        let fragments = |n: u32| {
            format!(
                "query {{ quotations(first: 100) {{ ...Q }} }} \
                 fragment Q on QuotationConnection {{ edges {{ node {{ ...I }} }} }} \
                 fragment I on Quotation {{ interview {{ quotations(first: {n}) {{ edges {{ node {{ interview {{ transcript }} }} }} }} }} }}"
            )
        };
        assert!(shape(&fragments(50)).is_ok());
        assert!(shape(&fragments(51)).is_err());
        // A list without `first` counts 100.
        assert!(shape(
            "{ ambito(code: \"1\") { cases { interviews { edges { node { transcript } } } } } }"
        )
        .is_ok());
        assert!(shape(
            "{ codeCaseMatrix(studyId: \"x\") { quotations { interview { transcript } } } }"
        )
        .is_err());
        // A page read for its total returns no transcript at all, and a slice counts as one.
        assert!(shape("{ interviews(first: 1000) { totalCount } }").is_ok());
        assert!(
            shape("{ node(id: \"x\") { ... on Interview { transcript(start: 0, end: 4) } } }")
                .is_ok()
        );
    }

    #[test]
    fn variable_defaults_holding_nul_are_refused() {
        let refused = shape("mutation($t: String = \"a\\u0000b\") { createCode(input: {studyId: \"x\", name: $t}) { id } }");
        assert_eq!(refused.unwrap_err(), NUL_REFUSED);
        assert!(shape("query($t: String = \"ab\") { me { id } }").is_ok());
    }
}
