//! The REST API's description: one OpenAPI 3.1 document assembled from the services' own
//! (each handler carries its `#[utoipa::path]`, next to the code it describes), served by the
//! gateway at `/api/openapi.json` with Swagger UI at `/api/docs`.
//!
//! The checked-in copies — `docs/openapi.json` and the web app's TypeScript types in
//! `web/src/lib/generated/` — are written by the test
//! `api_docs::tests::generated_files_are_current`: it fails (after rewriting them) when
//! a Rust type changed and the copies were not regenerated, so they cannot drift.

use axum::Router;
use axum::http::{HeaderValue, header};
use tower_http::set_header::SetResponseHeaderLayer;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ComponentsBuilder, OpenApi, RefOr, ResponseBuilder, content::Content};
use utoipa::{OpenApi as _, PartialSchema, ToSchema};
use utoipa_swagger_ui::SwaggerUi;

/// Where the document is served.
pub const SPEC_PATH: &str = "/api/openapi.json";
/// Where its page is.
pub const DOCS_PATH: &str = "/api/docs";

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "ChatSync API",
        description = "The REST API of ChatSync. Real-time events (Socket.IO at `/socket.io/`) \
            are described in docs/API.md; their payloads are typed in `chatsync_chat::protocol`. \
            Every error answers `{error: {code, message}}`; 429 and 503 carry `Retry-After`.",
        license(name = "MIT OR Apache-2.0"),
    ),
    tags(
        (name = "auth", description = "Registration with an emailed code, login, tokens, sessions."),
        (name = "users", description = "My account and other people's public profiles."),
        (name = "conversations", description = "Direct and group conversations and their members."),
        (name = "messages", description = "History, sending, edits, reactions, search, mentions."),
        (name = "presence", description = "Who is online."),
        (name = "settings", description = "My chat settings."),
        (name = "media", description = "Uploads and the files' bytes."),
    )
)]
struct Base;

/// The whole REST API: every service's paths, bearer authentication unless an operation says
/// otherwise, and the error body on every operation.
pub fn openapi() -> OpenApi {
    let mut doc = Base::openapi();
    doc.merge(chatsync_auth::AuthService::openapi());
    doc.merge(chatsync_chat::ChatService::openapi());
    doc.merge(chatsync_media::MediaService::openapi());
    secure_and_describe_errors(&mut doc);
    doc
}

/// Adds the bearer scheme (the default for every operation; public ones say `security(())`)
/// and, on every operation, the error answer for any status it does not list.
fn secure_and_describe_errors(doc: &mut OpenApi) {
    use chatsync_platform::http::ErrorBody;
    let mut components = doc
        .components
        .take()
        .unwrap_or_else(|| ComponentsBuilder::new().build());
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(
            Http::builder()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT")
                .build(),
        ),
    );
    // `ErrorBody` and the schemas it refers to (`ErrorDetail`).
    let mut schemas = Vec::new();
    ErrorBody::schemas(&mut schemas);
    schemas.push((ErrorBody::name().into_owned(), ErrorBody::schema()));
    components.schemas.extend(schemas);
    doc.components = Some(components);
    doc.security = Some(vec![SecurityRequirement::new(
        "bearer",
        Vec::<String>::new(),
    )]);

    let error = ResponseBuilder::new()
        .description(
            "An error: `{error: {code, message}}` (`code` is stable, `message` is for people).",
        )
        .content(
            "application/json",
            Content::new(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
                ErrorBody::name(),
            )))),
        )
        .build();
    for item in doc.paths.paths.values_mut() {
        for op in [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.patch,
            &mut item.delete,
        ]
        .into_iter()
        .flatten()
        {
            op.responses
                .responses
                .entry("default".into())
                .or_insert_with(|| RefOr::T(error.clone()));
        }
    }
}

/// `/api/openapi.json` and the Swagger UI page at `/api/docs` (vendored: nothing is fetched
/// from elsewhere). The page gets a policy of its own: Swagger UI sets inline styles.
pub fn router() -> Router {
    let docs: Router = SwaggerUi::new(DOCS_PATH).url(SPEC_PATH, openapi()).into();
    docs.layer(SetResponseHeaderLayer::overriding(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
             object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::openapi;
    use std::path::Path;

    /// Writes `docs/openapi.json` and the TypeScript types (`web/src/lib/generated/`) under
    /// `root` (the repository), removing generated files no type produces any more. Returns
    /// the files that changed.
    fn write_generated(root: &Path) -> anyhow::Result<Vec<String>> {
        let mut changed = Vec::new();
        let spec = root.join("docs/openapi.json");
        let text = format!("{}\n", openapi().to_pretty_json()?);
        if std::fs::read_to_string(&spec).ok().as_deref() != Some(text.as_str()) {
            std::fs::write(&spec, text)?;
            changed.push("docs/openapi.json".to_owned());
        }

        let out = root.join("web/src/lib/generated");
        let fresh = tempfile::tempdir()?;
        let cfg = ts_rs::Config::new()
            .with_large_int("number")
            .with_out_dir(fresh.path());
        chatsync_auth::AuthService::export_types(&cfg)?;
        chatsync_chat::ChatService::export_types(&cfg)?;
        chatsync_media::MediaService::export_types(&cfg)?;
        std::fs::create_dir_all(&out)?;
        let mut wanted = std::collections::BTreeSet::new();
        for entry in std::fs::read_dir(fresh.path())? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(entry.path())?;
            let target = out.join(&name);
            if std::fs::read_to_string(&target).ok().as_deref() != Some(text.as_str()) {
                std::fs::write(&target, text)?;
                changed.push(format!("web/src/lib/generated/{name}"));
            }
            wanted.insert(name);
        }
        for entry in std::fs::read_dir(&out)? {
            let name = entry?.file_name().to_string_lossy().into_owned();
            if !wanted.contains(&name) {
                std::fs::remove_file(out.join(&name))?;
                changed.push(format!("web/src/lib/generated/{name} (removed)"));
            }
        }
        Ok(changed)
    }

    /// The checked-in OpenAPI document and TypeScript types match the Rust types. When they
    /// do not, this rewrites them and fails: commit the rewritten files.
    #[test]
    fn generated_files_are_current() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let changed = write_generated(&root).expect("generated files written");
        assert!(
            changed.is_empty(),
            "generated files were out of date and have been rewritten; commit them: {changed:?}"
        );
    }
}
