//! The GraphiQL IDE at `GET /graphql`, served entirely from the binary so that it works
//! without internet access (no CDN).
//!
//! The page (`api/assets/graphiql/index.html`, our own) loads React, ReactDOM and GraphiQL from
//! `GET /graphql/assets/{file}`: the packages' published builds, vendored unmodified in
//! `api/assets/graphiql/` (see its README for versions, licences and how to refresh them) and
//! embedded here at compile time. The assets never change for a given build and their URLs
//! carry the version, so they are cached as immutable; the page itself is revalidated.

use axum::extract::Path;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// The GraphiQL page served at `GET /graphql`.
pub const INDEX_HTML: &str = include_str!("../../assets/graphiql/index.html");

/// `Cache-Control` of the vendored assets.
const ASSET_CACHE_CONTROL: &str = "public, max-age=31536000, immutable";

/// `Cache-Control` of the page: always revalidated, so a new build's asset URLs are seen.
const PAGE_CACHE_CONTROL: &str = "no-cache";

const JAVASCRIPT: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// A file served under `/graphql/assets/`.
#[derive(Debug, Clone, Copy)]
pub struct Asset {
    /// Its name, the last segment of its URL.
    pub name: &'static str,
    /// Its `Content-Type`.
    pub content_type: &'static str,
    /// Its bytes.
    pub body: &'static [u8],
}

/// Every file served under `/graphql/assets/`.
pub const ASSETS: [Asset; 4] = [
    Asset {
        name: "graphiql.min.js",
        content_type: JAVASCRIPT,
        body: include_bytes!("../../assets/graphiql/graphiql.min.js"),
    },
    Asset {
        name: "graphiql.min.css",
        content_type: CSS,
        body: include_bytes!("../../assets/graphiql/graphiql.min.css"),
    },
    Asset {
        name: "react.production.min.js",
        content_type: JAVASCRIPT,
        body: include_bytes!("../../assets/graphiql/react.production.min.js"),
    },
    Asset {
        name: "react-dom.production.min.js",
        content_type: JAVASCRIPT,
        body: include_bytes!("../../assets/graphiql/react-dom.production.min.js"),
    },
];

/// The asset called `name`, if there is one.
pub fn find_asset(name: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|asset| asset.name == name)
}

/// `GET /graphql`: the GraphiQL page.
pub async fn page() -> Response {
    (
        [
            (
                CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (CACHE_CONTROL, HeaderValue::from_static(PAGE_CACHE_CONTROL)),
        ],
        INDEX_HTML,
    )
        .into_response()
}

/// `GET /graphql/assets/{file}`: one of [`ASSETS`], or 404.
pub async fn asset(Path(file): Path<String>) -> Response {
    match find_asset(&file) {
        Some(asset) => (
            [
                (CONTENT_TYPE, HeaderValue::from_static(asset.content_type)),
                (CACHE_CONTROL, HeaderValue::from_static(ASSET_CACHE_CONTROL)),
            ],
            asset.body,
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use axum::body::to_bytes;

    async fn body_of(response: Response) -> Vec<u8> {
        to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap()
            .to_vec()
    }

    fn header(response: &Response, name: axum::http::HeaderName) -> &str {
        response
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
    }

    /// Every `src="…"` and `href="…"` of the page, in order.
    fn references(html: &str) -> Vec<&str> {
        let mut found = Vec::new();
        for attribute in ["src=\"", "href=\""] {
            let mut rest = html;
            while let Some(start) = rest.find(attribute) {
                rest = &rest[start + attribute.len()..];
                let end = rest.find('"').expect("an unterminated attribute");
                found.push(&rest[..end]);
                rest = &rest[end..];
            }
        }
        found
    }

    #[tokio::test]
    async fn every_asset_is_served_with_its_content_type_and_a_long_cache() {
        for expected in ASSETS {
            let response = asset(Path(expected.name.to_owned())).await;
            assert_eq!(response.status(), StatusCode::OK, "{}", expected.name);
            let content_type = header(&response, CONTENT_TYPE).to_owned();
            let cache_control = header(&response, CACHE_CONTROL).to_owned();
            if expected.name.ends_with(".js") {
                assert_eq!(content_type, "text/javascript; charset=utf-8");
            } else {
                assert!(expected.name.ends_with(".css"), "{}", expected.name);
                assert_eq!(content_type, "text/css; charset=utf-8");
            }
            assert!(cache_control.contains("immutable"), "{cache_control}");
            assert!(
                cache_control.contains("max-age=31536000"),
                "{cache_control}"
            );
            let body = body_of(response).await;
            assert!(!body.is_empty(), "{} is empty", expected.name);
            assert_eq!(body, expected.body, "{}", expected.name);
        }
    }

    #[tokio::test]
    async fn unknown_assets_are_not_found() {
        for name in [
            "",
            "index.html",
            "README.md",
            "LICENSE.react",
            "graphiql.min.js.map",
            "../graphiql.rs",
            "GRAPHIQL.MIN.JS",
        ] {
            let response = asset(Path(name.to_owned())).await;
            assert_eq!(response.status(), StatusCode::NOT_FOUND, "{name:?}");
        }
    }

    #[tokio::test]
    async fn the_page_is_html_titled_masar_graphql() {
        let response = page().await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(header(&response, CONTENT_TYPE), "text/html; charset=utf-8");
        assert_eq!(header(&response, CACHE_CONTROL), "no-cache");
        let body = String::from_utf8(body_of(response).await).unwrap();
        assert_eq!(body, INDEX_HTML);
        assert!(body.contains("<title>Masar GraphQL</title>"));
    }

    #[test]
    fn the_page_names_no_external_url() {
        let lower = INDEX_HTML.to_ascii_lowercase();
        for scheme in ["http://", "https://", "ws://", "wss://", "//unpkg", "//cdn"] {
            assert!(!lower.contains(scheme), "the page mentions {scheme}");
        }
        // Every script and stylesheet is one of ours, relative to the page at `/graphql`.
        let references = references(INDEX_HTML);
        assert_eq!(references.len(), 4, "{references:?}");
        for reference in references {
            assert!(!reference.contains(':'), "{reference} has a scheme");
            assert!(!reference.starts_with('/'), "{reference} is not relative");
            let path = reference.split('?').next().unwrap_or_default();
            let name = path
                .strip_prefix("graphql/assets/")
                .unwrap_or_else(|| panic!("{reference} is not under graphql/assets/"));
            assert!(find_asset(name).is_some(), "{reference} is not served");
        }
        // Scripts come only from `src`, never from an import or a loader building URLs.
        for loader in [
            "import(",
            "import ",
            "fetch(",
            "createelement(\"script",
            "@import",
        ] {
            assert!(!lower.contains(loader), "the page uses {loader}");
        }
    }

    #[test]
    fn the_page_loads_every_asset_and_uses_the_graphql_endpoints() {
        for asset in ASSETS {
            assert!(
                INDEX_HTML.contains(&format!("graphql/assets/{}?v=", asset.name)),
                "the page does not load {}",
                asset.name
            );
        }
        assert!(INDEX_HTML.contains("GraphiQL.createFetcher"));
        assert!(INDEX_HTML.contains("subscriptionUrl"));
        assert!(INDEX_HTML.contains("\"/ws\""));
        assert!(INDEX_HTML.contains(r#"{"Authorization": "Bearer <token>"}"#));
    }
}
