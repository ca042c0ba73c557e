//! The OpenAPI 3.1 document, derived from the handlers' annotations and the records'
//! schemas; served at `/openapi.json` and checked into `docs/openapi.json`.

use axum::http::header;
use axum::response::IntoResponse;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::OpenApi as Document;
use utoipa::{Modify, OpenApi};

use super::routes::{automation, billing, planner, sites};

/// Declares the bearer JWT every operation needs.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut Document) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "IGNY8 services API", description = "Keywords in, articles and images out: automation runs, planner and writer records, credits."),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    paths(
        sites::get_account, sites::create_account, sites::create_site, sites::list_sites, sites::get_site, sites::update_site,
        automation::start_run, automation::list_runs, automation::get_run, automation::pause_run, automation::resume_run,
        automation::cancel_run, automation::run_logs, automation::get_config, automation::put_config, automation::estimate,
        planner::import_keywords,
        planner::list_keywords, planner::get_keyword, planner::delete_keyword,
        planner::list_clusters, planner::get_cluster, planner::delete_cluster,
        planner::list_ideas, planner::get_idea, planner::delete_idea,
        planner::list_tasks, planner::get_task, planner::delete_task,
        planner::list_content, planner::get_content, planner::delete_content,
        planner::list_images, planner::get_image, planner::delete_image,
        billing::balance, billing::transactions, billing::usage, billing::costs, billing::put_cost,
        billing::add_credits, billing::reconcile,
    ),
    tags(
        (name = "accounts", description = "The caller's account; opening accounts"),
        (name = "sites", description = "The account's sites"),
        (name = "automation", description = "Automation runs and their settings"),
        (name = "planner", description = "Keywords, clusters, ideas"),
        (name = "writer", description = "Tasks, articles, images"),
        (name = "billing", description = "Credits: balance, ledger, usage, prices"),
    )
)]
struct ApiDoc;

/// The document.
pub fn document() -> Document {
    ApiDoc::openapi()
}

/// The document as pretty JSON, the form checked into `docs/openapi.json`.
pub fn document_json() -> String {
    document().to_pretty_json().unwrap_or_default()
}

/// The checked-in document (kept equal to [`document`] by a test), served as it is:
/// no schema is built per request and the Lambda links none of the generator.
pub const DOCUMENT_JSON: &str = include_str!("../../../docs/openapi.json");

/// `GET /openapi.json` (no token needed).
pub async fn serve() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], DOCUMENT_JSON)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHECKED_IN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi.json");

    /// docs/openapi.json is what the code generates; `IGNY8_UPDATE_OPENAPI=1` rewrites it.
    #[test]
    fn the_checked_in_document_is_current() {
        let generated = format!("{}\n", document_json());
        let updating = std::env::var_os("IGNY8_UPDATE_OPENAPI").is_some();
        if updating {
            std::fs::write(CHECKED_IN, &generated).expect("write docs/openapi.json");
        }
        let stored = std::fs::read_to_string(CHECKED_IN).unwrap_or_default();
        assert!(
            stored == generated && (updating || DOCUMENT_JSON == generated),
            "docs/openapi.json is out of date: run `IGNY8_UPDATE_OPENAPI=1 cargo test -p igny8-core openapi` and commit it"
        );
    }

    #[test]
    fn every_operation_is_documented_with_its_errors() {
        let doc: serde_json::Value = serde_json::from_str(&document_json()).expect("json");
        assert_eq!(doc["openapi"], "3.1.0");
        let paths = doc["paths"].as_object().expect("paths");
        let operations: usize = paths.values().map(|p| p.as_object().map_or(0, |o| o.len())).sum();
        assert!(operations >= 40, "{operations} operations");
        for (path, item) in paths {
            for (method, op) in item.as_object().expect("path item") {
                assert!(op["responses"]["4XX"].is_object(), "{method} {path} documents no 4XX problem");
            }
        }
    }
}
