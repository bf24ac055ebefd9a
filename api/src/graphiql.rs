//! GraphiQL served from the binary: research networks are often closed, and async-graphql's
//! page loads its scripts from a CDN. The assets (fetched once by
//! `api/assets/graphiql/fetch.sh`, licences beside them) are compiled in.

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};

/// (name, content type, bytes) of every file under /graphql/assets/.
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "graphiql.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/graphiql/graphiql.min.js"),
    ),
    (
        "graphiql.min.css",
        "text/css; charset=utf-8",
        include_bytes!("../assets/graphiql/graphiql.min.css"),
    ),
    (
        "react.production.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/graphiql/react.production.min.js"),
    ),
    (
        "react-dom.production.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/graphiql/react-dom.production.min.js"),
    ),
    (
        "start.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/graphiql/start.js"),
    ),
    (
        "LICENSE.graphiql",
        "text/plain; charset=utf-8",
        include_bytes!("../assets/graphiql/LICENSE.graphiql"),
    ),
    (
        "LICENSE.react",
        "text/plain; charset=utf-8",
        include_bytes!("../assets/graphiql/LICENSE.react"),
    ),
    (
        "LICENSE.react-dom",
        "text/plain; charset=utf-8",
        include_bytes!("../assets/graphiql/LICENSE.react-dom"),
    ),
];

const PAGE: &str = include_str!("../assets/graphiql/index.html");

/// GET /graphql: the GraphiQL page.
pub async fn page() -> Html<&'static str> {
    Html(PAGE)
}

/// GET /graphql/assets/{file}.
pub async fn asset(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == file) {
        Some((_, content_type, bytes)) => (
            [
                (header::CONTENT_TYPE, *content_type),
                // The files change only with the binary.
                (header::CACHE_CONTROL, "public, max-age=86400"),
            ],
            *bytes,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such asset").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_loads_nothing_from_elsewhere() {
        for attr in ["src=\"", "href=\""] {
            for (i, _) in PAGE.match_indices(attr) {
                let target = &PAGE[i + attr.len()..];
                assert!(
                    target.starts_with("/graphql/assets/") || target.starts_with("data:"),
                    "{}",
                    &target[..40.min(target.len())]
                );
            }
        }
        for (i, _) in PAGE.match_indices("/graphql/assets/") {
            let name = PAGE[i + 16..].split('"').next().unwrap();
            assert!(
                ASSETS.iter().any(|(n, _, _)| *n == name),
                "{name} is not served"
            );
        }
    }
}
