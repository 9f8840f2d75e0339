//! The schema: its root types, its limits, and what every resolver can reach. It builds
//! without HTTP or a database, so that its SDL can be exported and checked against the
//! contract (`api/tests/schema_contract.rs`).

use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextValidation,
};
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{
    Schema, SchemaBuilder, ServerError, ServerResult, ValidationResult, Variables,
};
use masar_domain::ErrorCode;

use super::error::ApiError;
use super::mutation::Mutation;
use super::query::Query;
use super::stale::StaleReads;
use super::subscription::Subscription;
use crate::auth::TokenStore;
use crate::privacy::PersonalDataVault;
use crate::write::WriteSide;

/// Masar's GraphQL schema.
pub type MasarSchema = Schema<Query, Mutation, Subscription>;

/// Deepest selection nesting a query may have. The standard introspection query (GraphiQL's)
/// nests 13 levels; real queries far fewer.
pub const MAX_DEPTH: usize = 16;

/// Largest complexity (selected fields, counted once per selection) a query may have.
pub const MAX_COMPLEXITY: usize = 1000;

/// What every resolver reaches through the schema's data.
#[derive(Clone)]
pub struct ApiContext {
    /// The command pipelines, their database and the directory.
    pub write: WriteSide,
    /// API tokens.
    pub tokens: TokenStore,
    /// Personal data encryption; `None` when no master key is configured, in which case
    /// personal data is neither recorded nor read.
    pub vault: Option<PersonalDataVault>,
    /// Live journey event notices (subscriptions).
    pub notices: crate::notices::NoticeHub,
    /// Live indicator updates (subscriptions).
    pub indicator_updates: crate::indicator_updates::UpdateHub,
}

/// How the schema is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchemaOptions {
    /// Whether introspection queries are answered.
    pub introspection: bool,
    /// Deepest nesting allowed.
    pub max_depth: usize,
    /// Largest complexity allowed.
    pub max_complexity: usize,
    /// Counts from 1 to this − 1 are suppressed for roles other than ADMIN and AUDITOR.
    pub small_cell_threshold: i64,
    /// How long list and indicator queries wait for the projections to reflect the writes
    /// acknowledged before them; past it they answer with what the projections hold, marked
    /// in `extensions.stale` (see [`super::stale`]).
    pub projection_wait: std::time::Duration,
    /// The seal public key trusted by `verifyIntegrity`, if known: seals signed by another key
    /// are reported.
    pub trusted_seal_key: Option<masar_projections::seal::VerifyingKey>,
}

impl Default for SchemaOptions {
    fn default() -> Self {
        SchemaOptions {
            introspection: true,
            max_depth: MAX_DEPTH,
            max_complexity: MAX_COMPLEXITY,
            small_cell_threshold: super::indicators::DEFAULT_SMALL_CELL_THRESHOLD,
            projection_wait: std::time::Duration::from_millis(500),
            trusted_seal_key: None,
        }
    }
}

/// The schema's builder, without data.
pub fn schema_builder(options: SchemaOptions) -> SchemaBuilder<Query, Mutation, Subscription> {
    let builder = Schema::build(Query, Mutation, Subscription)
        .extension(QueryGuard {
            introspection: options.introspection,
            max_depth: options.max_depth,
            max_complexity: options.max_complexity,
        })
        .extension(StaleReads);
    if options.introspection {
        builder
    } else {
        builder.disable_introspection()
    }
}

/// The schema, serving `context`.
pub fn build_schema(context: ApiContext, options: SchemaOptions) -> MasarSchema {
    schema_builder(options)
        .data(super::cost::Gates::for_pool(&context.write.pool))
        .data(context)
        .data(options)
        .finish()
}

/// The served schema in SDL.
pub fn sdl() -> String {
    schema_builder(SchemaOptions::default()).finish().sdl()
}

/// Guards what a query may ask:
/// - nested deeper or more complex than allowed: QUERY_TOO_COMPLEX, from the depth and
///   complexity that async-graphql computes while validating — or, for a query so deep that
///   the parser gives up first, from the nesting of its braces;
/// - any other query that does not parse: VALIDATION;
/// - `__schema` or `__type` with introspection switched off: VALIDATION, saying so (rather
///   than async-graphql's silent null).
struct QueryGuard {
    introspection: bool,
    max_depth: usize,
    max_complexity: usize,
}

impl ExtensionFactory for QueryGuard {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(QueryGuardExtension {
            introspection: self.introspection,
            max_depth: self.max_depth,
            max_complexity: self.max_complexity,
        })
    }
}

struct QueryGuardExtension {
    introspection: bool,
    max_depth: usize,
    max_complexity: usize,
}

#[async_graphql::async_trait::async_trait]
impl Extension for QueryGuardExtension {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = match next.run(ctx, query, variables).await {
            Ok(document) => document,
            Err(error) => {
                let depth = brace_depth(query);
                let error = if depth > self.max_depth {
                    too_deep(depth, self.max_depth)
                } else {
                    ApiError::new(ErrorCode::Validation, error.message)
                };
                return Err(error.into_server_error());
            }
        };
        if !self.introspection && introspects(&document) {
            return Err(ApiError::new(
                ErrorCode::Validation,
                "introspection is switched off on this server (MASAR_GRAPHQL_INTROSPECTION):                  the schema is published in api/contract/schema.graphql",
            )
            .into_server_error());
        }
        Ok(document)
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let result = next.run(ctx).await?;
        if result.depth > self.max_depth {
            return Err(vec![
                too_deep(result.depth, self.max_depth).into_server_error()
            ]);
        }
        if result.complexity > self.max_complexity {
            return Err(vec![ApiError::new(
                ErrorCode::QueryTooComplex,
                format!(
                    "the query selects {} fields; at most {} are allowed: split it into several \
                     queries",
                    result.complexity, self.max_complexity
                ),
            )
            .into_server_error()]);
        }
        Ok(result)
    }
}

fn too_deep(depth: usize, max_depth: usize) -> ApiError {
    ApiError::new(
        ErrorCode::QueryTooComplex,
        format!(
            "the query nests {depth} levels deep; at most {max_depth} are allowed: ask for less at \
             once"
        ),
    )
}

/// The deepest nesting of `{` in a GraphQL text, outside strings and comments.
fn brace_depth(query: &str) -> usize {
    let mut depth = 0usize;
    let mut deepest = 0usize;
    let mut chars = query.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '#' => {
                for c in chars.by_ref() {
                    if c == '\n' || c == '\r' {
                        break;
                    }
                }
            }
            '"' => {
                // A string (block strings are three strings in a row to this scanner, which
                // only skips them).
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            chars.next();
                        }
                        '"' => break,
                        _ => {}
                    }
                }
            }
            '{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// Whether an operation of `document` selects `__schema` or `__type` at its root (directly or
/// through fragments).
fn introspects(document: &ExecutableDocument) -> bool {
    fn selects(document: &ExecutableDocument, set: &SelectionSet, seen: &mut Vec<String>) -> bool {
        set.items.iter().any(|selection| match &selection.node {
            Selection::Field(field) => {
                matches!(field.node.name.node.as_str(), "__schema" | "__type")
            }
            Selection::InlineFragment(fragment) => {
                selects(document, &fragment.node.selection_set.node, seen)
            }
            Selection::FragmentSpread(spread) => {
                let name = spread.node.fragment_name.node.to_string();
                if seen.contains(&name) {
                    return false;
                }
                seen.push(name);
                document
                    .fragments
                    .get(&spread.node.fragment_name.node)
                    .is_some_and(|fragment| {
                        selects(document, &fragment.node.selection_set.node, seen)
                    })
            }
        })
    }
    document.operations.iter().any(|(_, operation)| {
        selects(
            document,
            &operation.node.selection_set.node,
            &mut Vec::new(),
        )
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    /// graphql-js's `getIntrospectionQuery()` (v16, with descriptions and `isOneOf`), as
    /// GraphiQL sends it.
    const INTROSPECTION: &str = r#"
    query IntrospectionQuery {
      __schema {
        queryType { name } mutationType { name } subscriptionType { name }
        types { ...FullType }
        directives { name description locations args { ...InputValue } }
      }
    }
    fragment FullType on __Type {
      kind name description specifiedByURL isOneOf
      fields(includeDeprecated: true) {
        name description args { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason
      }
      inputFields { ...InputValue }
      interfaces { ...TypeRef }
      enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
      possibleTypes { ...TypeRef }
    }
    fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
    fragment TypeRef on __Type {
      kind name
      ofType { kind name ofType { kind name ofType { kind name ofType { kind name
        ofType { kind name ofType { kind name ofType { kind name ofType { kind name
          ofType { kind name } } } } } } } } }
    }"#;

    fn codes(response: &async_graphql::Response) -> Vec<String> {
        response
            .errors
            .iter()
            .map(|error| {
                error
                    .extensions
                    .as_ref()
                    .and_then(|e| e.get("code"))
                    .map(ToString::to_string)
                    .unwrap_or_default()
            })
            .collect()
    }

    fn nested(levels: usize) -> String {
        format!(
            "{{ __schema {{ types {{ {}name{} }} }} }}",
            "ofType { ".repeat(levels),
            " }".repeat(levels)
        )
    }

    #[tokio::test]
    async fn graphiql_s_introspection_query_is_within_the_limits() {
        let schema = schema_builder(SchemaOptions::default()).finish();
        let response = schema.execute(INTROSPECTION).await;
        assert!(response.errors.is_empty(), "{:?}", response.errors);
    }

    #[tokio::test]
    async fn deep_queries_are_too_complex_whichever_limit_stops_them() {
        let schema = schema_builder(SchemaOptions::default()).finish();
        // 20 levels: the validation's depth; 40: async-graphql's recursion check; 100: the
        // parser's own recursion limit.
        for levels in [20, 40, 100] {
            let response = schema.execute(nested(levels).as_str()).await;
            assert_eq!(codes(&response), ["\"QUERY_TOO_COMPLEX\""], "{levels}");
        }
        let response = schema.execute(nested(5).as_str()).await;
        assert!(response.errors.is_empty(), "{:?}", response.errors);
        let response = schema.execute("{ __schema { types { name } }").await;
        assert_eq!(codes(&response), ["\"VALIDATION\""]);
    }

    #[test]
    fn braces_in_strings_and_comments_do_not_count() {
        assert_eq!(brace_depth("{ a { b } }"), 2);
        assert_eq!(brace_depth("{ a(s: \"{{{{\\\"{{\") # {{{{\n { b } }"), 2);
        assert_eq!(brace_depth("}}} {"), 1);
    }

    #[tokio::test]
    async fn introspection_can_be_switched_off() {
        let schema = schema_builder(SchemaOptions {
            introspection: false,
            ..SchemaOptions::default()
        })
        .finish();
        for query in [
            "{ __schema { queryType { name } } }",
            "{ __type(name: \"Query\") { name } }",
            "query { ...F } fragment F on Query { ... on Query { __schema { queryType { name } } } }",
        ] {
            let response = schema.execute(query).await;
            assert_eq!(codes(&response), ["\"VALIDATION\""], "{query}");
        }
        let response = schema.execute("{ __typename }").await;
        assert!(response.errors.is_empty(), "{:?}", response.errors);
    }
}
