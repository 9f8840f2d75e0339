//! GraphiQL at `GET /graphql` works offline: the page and everything it loads come from the
//! server itself.

use reqwest::Url;

use crate::helpers::spawn_app;

/// Every value of a `src="…"` or `href="…"` attribute in `html`.
fn references(html: &str) -> Vec<String> {
    let mut found = Vec::new();
    for attribute in ["src=", "href="] {
        let mut rest = html;
        while let Some(start) = rest.find(attribute) {
            rest = &rest[start + attribute.len()..];
            let quote = rest.chars().next().unwrap();
            assert!(
                quote == '"' || quote == '\'',
                "an unquoted {attribute}: {}",
                &rest[..rest.len().min(40)]
            );
            rest = &rest[1..];
            let end = rest.find(quote).unwrap();
            found.push(rest[..end].to_owned());
            rest = &rest[end..];
        }
    }
    found
}

#[tokio::test]
async fn graphiql_and_everything_it_loads_are_served_by_masar() {
    let app = spawn_app().await;
    let page_url = Url::parse(&format!("{}/graphql", app.address)).unwrap();
    let response = app.client.get(page_url.clone()).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().unwrap();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    let html = response.text().await.unwrap();
    assert!(html.contains("<title>Masar GraphQL</title>"));

    let lower = html.to_ascii_lowercase();
    for external in ["http://", "https://", "ws://", "wss://"] {
        assert!(
            !lower.contains(external),
            "the page names an {external} URL"
        );
    }

    let references = references(&html);
    assert!(
        references.len() >= 4,
        "the page loads too little: {references:?}"
    );
    for reference in references {
        let url = page_url.join(&reference).unwrap();
        assert_eq!(
            url.origin(),
            page_url.origin(),
            "{reference} is not on the server"
        );
        let response = app.client.get(url.clone()).send().await.unwrap();
        assert_eq!(response.status(), 200, "{url}");
        let body = response.bytes().await.unwrap();
        assert!(!body.is_empty(), "{url} is empty");
    }

    let missing = app
        .client
        .get(format!("{}/graphql/assets/nothing.js", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
}
