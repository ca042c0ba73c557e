//! The OpenAPI 3.1 document, derived from the handlers' annotations and the records'
//! schemas; served at `/openapi.json` and checked into `docs/openapi.json`.

use axum::http::header;
use axum::response::IntoResponse;
use utoipa::openapi::path::Operation;
use utoipa::openapi::schema::{AdditionalProperties, ArrayItems, KnownFormat, ObjectBuilder, SchemaFormat, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{OpenApi as Document, RefOr, Schema};
use utoipa::{Modify, Number, OpenApi};

use super::routes::{
    self, automation, billing, catalog, imports, integrations, invoices, linking, optimization, payments, planner,
    publishing, sites, subscriptions, webhooks, Constraint, Target,
};

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

/// Closes the variants of the request bodies that are one object per kind: serde's
/// `deny_unknown_fields` on a tagged enum refuses other fields, which utoipa does not
/// carry into the variants' schemas.
struct ClosedVariants;

/// The tagged request bodies whose variants [`ClosedVariants`] closes.
const TAGGED_BODIES: &[&str] = &["IntegrationRequest"];

impl Modify for ClosedVariants {
    fn modify(&self, openapi: &mut Document) {
        let Some(components) = openapi.components.as_mut() else { return };
        for name in TAGGED_BODIES {
            if let Some(RefOr::T(Schema::OneOf(one_of))) = components.schemas.get_mut(*name) {
                for item in &mut one_of.items {
                    if let RefOr::T(Schema::Object(object)) = item {
                        object.additional_properties = Some(Box::new(AdditionalProperties::FreeForm(false)));
                    }
                }
            }
        }
    }
}

/// Declares the constraints the handlers enforce ([`routes::declared`]), from the
/// constants their checks use.
struct Constraints;

impl Modify for Constraints {
    fn modify(&self, openapi: &mut Document) {
        for (target, constraint) in routes::declared() {
            // A target the document lacks is caught by a test, not here.
            apply(openapi, &target, &constraint);
        }
    }
}

/// Applies one constraint where it belongs; false when the document has no such place
/// or the schema there cannot take it.
fn apply(openapi: &mut Document, target: &Target, constraint: &Constraint) -> bool {
    match *target {
        Target::Component(name) => openapi
            .components
            .as_mut()
            .and_then(|c| c.schemas.get_mut(name))
            .is_some_and(|schema| constrain(schema, constraint)),
        Target::Property(name, property) => {
            let schema = openapi.components.as_mut().and_then(|c| c.schemas.get_mut(name));
            match schema {
                Some(RefOr::T(Schema::Object(object))) => {
                    object.properties.get_mut(property).is_some_and(|schema| constrain(schema, constraint))
                }
                _ => false,
            }
        }
        Target::Parameter(path, name) => {
            let mut found = false;
            for (at, item) in openapi.paths.paths.iter_mut() {
                if path != "*" && at != path {
                    continue;
                }
                let operations = [
                    &mut item.get,
                    &mut item.put,
                    &mut item.post,
                    &mut item.delete,
                    &mut item.patch,
                    &mut item.head,
                    &mut item.options,
                    &mut item.trace,
                ];
                for operation in operations.into_iter().flatten() {
                    found |= constrain_parameter(operation, name, constraint);
                }
            }
            found
        }
    }
}

fn constrain_parameter(operation: &mut Operation, name: &str, constraint: &Constraint) -> bool {
    let mut found = false;
    for parameter in operation.parameters.iter_mut().flatten().filter(|p| p.name == name) {
        found |= parameter.schema.as_mut().is_some_and(|schema| constrain(schema, constraint));
    }
    found
}

fn int(n: i64) -> Option<Number> {
    isize::try_from(n).ok().map(Number::Int)
}

/// Adds the constraint to one schema; false when it does not fit the schema's kind.
fn constrain(schema: &mut RefOr<Schema>, constraint: &Constraint) -> bool {
    match (schema, constraint) {
        // An enum narrower than the referenced one (credits are not added as a charge).
        (schema @ RefOr::Ref(_), Constraint::OneOf(values)) => {
            let description = match &*schema {
                RefOr::Ref(r) if !r.description.is_empty() => Some(r.description.clone()),
                _ => None,
            };
            let values: Vec<_> = values.iter().map(|v| serde_json::Value::String(v.clone())).collect();
            *schema = RefOr::T(Schema::Object(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .description(description)
                    .enum_values(Some(values))
                    .build(),
            ));
            true
        }
        (RefOr::T(Schema::Object(object)), constraint) => {
            match constraint {
                Constraint::Range(min, max) => {
                    object.minimum = int(*min);
                    object.maximum = int(*max);
                }
                Constraint::Between(min, max) => {
                    object.minimum = Some(Number::Float(*min));
                    object.maximum = Some(Number::Float(*max));
                }
                Constraint::Text { min, max, pattern } => {
                    object.min_length = *min;
                    object.max_length = *max;
                    object.pattern.clone_from(pattern);
                }
                Constraint::OneOf(values) => {
                    object.enum_values = Some(values.iter().map(|v| serde_json::Value::String(v.clone())).collect());
                }
                Constraint::DateTime => object.format = Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)),
                Constraint::Items { .. } => return false,
            }
            true
        }
        (RefOr::T(Schema::Array(array)), Constraint::Items { min, max, each }) => {
            array.min_items = Some(*min);
            array.max_items = Some(*max);
            match (&mut array.items, each) {
                (_, None) => true,
                (ArrayItems::RefOrSchema(items), Some((lo, hi))) => constrain(items, &Constraint::Range(*lo, *hi)),
                _ => false,
            }
        }
        _ => false,
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "IGNY8 services API", description = "Keywords in, articles and images out: automation runs, planner and writer records, credits, invoices and payments; integrations and publishing; validation, analysis and optimization of articles, internal links."),
    modifiers(&BearerAuth, &Constraints, &ClosedVariants),
    security(("bearer" = [])),
    paths(
        sites::get_account, sites::create_account, sites::create_site, sites::list_sites, sites::get_site, sites::update_site,
        automation::start_run, automation::list_runs, automation::get_run, automation::pause_run, automation::resume_run,
        automation::cancel_run, automation::run_logs, automation::get_config, automation::put_config, automation::estimate,
        planner::import_keywords,
        imports::create_import, imports::run_import, imports::get_import,
        planner::list_keywords, planner::get_keyword, planner::delete_keyword,
        planner::list_clusters, planner::get_cluster, planner::delete_cluster,
        planner::list_ideas, planner::get_idea, planner::delete_idea,
        planner::list_tasks, planner::get_task, planner::delete_task,
        planner::list_content, planner::get_content, planner::delete_content,
        planner::list_images, planner::get_image, planner::delete_image,
        billing::balance, billing::transactions, billing::usage, billing::costs, billing::put_cost,
        billing::add_credits, billing::reconcile,
        catalog::list_packages, catalog::get_package, catalog::create_package, catalog::update_package, catalog::purchase_package,
        catalog::list_plans, catalog::get_plan, catalog::create_plan, catalog::update_plan,
        invoices::list_invoices, invoices::get_invoice, invoices::invoice_pdf, invoices::create_invoice, invoices::edit_lines,
        invoices::delete_invoice, invoices::finalize_invoice, invoices::void_invoice, invoices::uncollectible_invoice,
        invoices::get_profile, invoices::put_profile,
        payments::list_payments, payments::get_payment, payments::payment_credit_notes, payments::record_payment,
        payments::refund_payment,
        subscriptions::get_subscription, subscriptions::subscribe, subscriptions::change_plan,
        subscriptions::cancel_subscription,
        webhooks::stripe_webhook,
        integrations::create_integration, integrations::list_integrations, integrations::get_integration,
        integrations::update_integration, integrations::delete_integration, integrations::test_integration,
        integrations::sync_integration, integrations::integration_health,
        publishing::approve_content, publishing::unapprove_content, publishing::approve_all, publishing::publish,
        publishing::publications,
        optimization::analysis, optimization::validation, optimization::estimate, optimization::optimize,
        optimization::optimizations,
        linking::suggestions, linking::apply,
    ),
    tags(
        (name = "accounts", description = "The caller's account; opening accounts"),
        (name = "sites", description = "The account's sites"),
        (name = "automation", description = "Automation runs and their settings"),
        (name = "planner", description = "Keywords, clusters, ideas"),
        (name = "writer", description = "Tasks, articles, images"),
        (name = "billing", description = "Credits: balance, ledger, usage, prices"),
        (name = "catalog", description = "Credit packages and plans; buying a package"),
        (name = "invoices", description = "Invoices, their PDFs, the billing profile"),
        (name = "payments", description = "Payments, refunds, credit notes"),
        (name = "subscriptions", description = "The account's plan subscription"),
        (name = "webhooks", description = "Payment-provider webhooks (signed, no bearer token)"),
        (name = "integrations", description = "A site's WordPress site or Shopify store: connect, test, sync, health (credentials never returned)"),
        (name = "publishing", description = "Review (approve, unapprove) and publishing of articles; their publications"),
        (name = "optimization", description = "An article's validation report and analysis (score and every check); AI rewrites of what the analyzer flags (estimate first, charged in credits)"),
        (name = "linking", description = "Internal links between a site's articles: suggestions with anchors and targets, and applying them"),
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

    /// Every constraint the handlers declare lands in the document.
    #[test]
    fn every_declared_constraint_has_its_place() {
        let mut doc = ApiDoc::openapi();
        for (target, constraint) in routes::declared() {
            assert!(apply(&mut doc, &target, &constraint), "{target:?} takes no {constraint:?}");
        }
        let json: serde_json::Value = serde_json::from_str(&document_json()).expect("json");
        let grant = &json["components"]["schemas"]["CreditGrant"]["properties"];
        assert_eq!(grant["kind"]["enum"], serde_json::json!(["top_up", "grant", "refund"]));
        assert_eq!(grant["amount"]["maximum"], billing::MAX_CREDITS_PER_REQUEST);
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
