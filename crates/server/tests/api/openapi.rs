//! The REST API's description (issue 12, item 6): the gateway serves the OpenAPI 3.1 document
//! at `/api/openapi.json` — the same one checked in as `docs/openapi.json` — and a page for
//! people at `/api/docs/`; every operation names its errors and who may call it.

use chatsync_testkit::{Backends, TestApp};
use serde_json::Value;
use std::path::Path;

fn checked_in() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[tokio::test]
async fn the_gateway_serves_the_checked_in_openapi_document_and_its_page() {
    let app = TestApp::spawn(Backends::EMBEDDED).await;
    let res = app
        .client
        .get(app.url("/api/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let served: Value = res.json().await.unwrap();
    assert!(served["openapi"].as_str().unwrap().starts_with("3.1"));
    assert_eq!(
        served,
        checked_in(),
        "docs/openapi.json differs from the served document: run \
         `cargo test -p chatsync-server --lib api_docs` and commit it"
    );

    let page = app.client.get(app.url("/api/docs/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
    // The page's own script and the document it loads come from this server.
    let init = app
        .client
        .get(app.url("/api/docs/swagger-initializer.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(init.status(), 200);
    assert!(init.text().await.unwrap().contains("/api/openapi.json"));
}

#[test]
fn every_operation_describes_its_errors_and_whether_it_needs_a_token() {
    let doc = checked_in();
    assert_eq!(doc["security"][0]["bearer"], Value::Array(vec![]));
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    let public = [
        "POST /api/auth/register",
        "POST /api/auth/verify",
        "POST /api/auth/resend-otp",
        "POST /api/auth/login",
        "POST /api/auth/refresh",
        "GET /api/media/{id}/content",
        "GET /api/media/{id}/thumbnail",
        "GET /api/media/{id}/public",
    ];
    let mut seen_public = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let name = format!("{} {path}", method.to_uppercase());
            let error = &op["responses"]["default"]["content"]["application/json"]["schema"];
            assert_eq!(error["$ref"], "#/components/schemas/ErrorBody", "{name}");
            let ok = op["responses"]
                .as_object()
                .unwrap()
                .keys()
                .any(|k| k.starts_with('2'));
            assert!(ok, "{name} documents no success answer");
            if op["security"] == serde_json::json!([{}]) {
                seen_public.push(name);
            }
        }
    }
    seen_public.sort();
    let mut public: Vec<String> = public.iter().map(|s| (*s).to_owned()).collect();
    public.sort();
    assert_eq!(seen_public, public, "operations open without a token");
}
