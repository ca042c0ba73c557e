//! The optimization and linking routes through the router, on the embedded family (the
//! world of `common`: two tenants whose runs wrote articles): an article's analysis
//! (every check 0–9, a score 0–100) and validation report; the optimize estimate, an
//! optimization charged exactly its credits once (a repeat with the same
//! `Idempotency-Key` is replayed, not charged), kept only when it scores higher, in the
//! history; 402 without credits and 502/503 when the provider fails, neither charging
//! anything; link suggestions and applying them to an article made to name another
//! (a second pass adds nothing); and the refusals: malformed and unknown ids, another
//! tenant's article or site (404), bad bodies (422), viewers on the writes (403).
//!
//! Tenant A is the optimizer's (one test at a time touches its balance); tenant B is
//! the linker's.

// Tests may panic: a failed step is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod unlink;

use std::sync::Arc;

use async_trait::async_trait;
use axum::body::{to_bytes, Body};
use axum::http::{Request, StatusCode};
use common::{bearer, block_on, world, World, SECRET};
use igny8_ai::{AiError, AiProvider, OfflineProvider, OptimizeOut, OptimizeRequest, Usage};
use igny8_api::{router, ApiState, AuthMode};
use igny8_core::domain::{AccountId, SiteId};
use igny8_core::optimization::OptimizationService;
use igny8_tests::hooked_ai::{AiHooks, HookedAi};
use serde_json::{json, Value};
use tower::ServiceExt;

/// The offline provider, but every rewrite fails with the error held.
struct FailingRewrites(AiError);

#[async_trait]
impl AiHooks for FailingRewrites {
    async fn optimize_article(&self, _: &dyn AiProvider, _: &OptimizeRequest) -> Result<(OptimizeOut, Usage), AiError> {
        Err(self.0.clone())
    }
}

/// The world's router, but the optimizer's provider fails every rewrite with `error`.
fn router_failing_with(w: &World, error: AiError) -> axum::Router {
    let services = w.rt.services.clone();
    let mut state =
        ApiState::new(services.clone(), w.rt.automation.clone(), AuthMode::Hs256 { secret: SECRET.to_vec() });
    let ai = Arc::new(HookedAi::new(Arc::new(OfflineProvider::with_year(2026)), FailingRewrites(error)));
    state.optimization = OptimizationService::new(
        services.checks.clone(),
        services.credits.clone(),
        ai,
        Arc::clone(&services.clock),
        Arc::clone(&services.ids),
    );
    router(state)
}

/// POSTs `uri` through `app` as `token`; the status and the JSON body.
async fn post_on(app: axum::Router, uri: &str, token: &str) -> (StatusCode, Value) {
    let request = Request::builder()
        .method("POST")
        .uri(uri)
        .header("authorization", bearer(token))
        .body(Body::empty())
        .expect("request");
    let response = app.oneshot(request).await.expect("the router is infallible");
    let status = response.status();
    let bytes = to_bytes(response.into_body(), usize::MAX).await.expect("body");
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

async fn get(w: &World, uri: &str, token: &str) -> Value {
    let (status, _, body) = w.call("GET", uri, token, None).await;
    assert_eq!(status, StatusCode::OK, "GET {uri}: {body}");
    body
}

async fn balance(w: &World, token: &str) -> (i64, i64) {
    let b = get(w, "/v1/billing/balance", token).await;
    (b["credits"].as_i64().expect("credits"), b["available"].as_i64().expect("available"))
}

fn article_uri(site: &str, content: &str, tail: &str) -> String {
    format!("/v1/sites/{site}/content/{content}/{tail}")
}

/// Every check has an id, a group, a score 0–9 and a message; the score is 0–100.
fn assert_analysis(what: &str, analysis: &Value) {
    let score = analysis["score"].as_u64().unwrap_or_else(|| panic!("{what}: no score: {analysis}"));
    assert!(score <= 100, "{what}: score {score}");
    let checks = analysis["checks"].as_array().unwrap_or_else(|| panic!("{what}: no checks: {analysis}"));
    assert!(checks.len() >= 10, "{what}: every check is shown: {analysis}");
    for check in checks {
        assert!(check["id"].as_str().is_some_and(|id| !id.is_empty()), "{what}: {check}");
        assert!(matches!(check["group"].as_str(), Some("seo" | "readability")), "{what}: {check}");
        assert!(check["score"].as_u64().is_some_and(|s| s <= 9), "{what}: {check}");
        assert!(check["message"].as_str().is_some_and(|m| !m.is_empty()), "{what}: {check}");
    }
}

#[test]
fn an_articles_analysis_and_validation_show_every_check_and_issue() {
    block_on(async {
        let w = world().await;
        // Not the article the optimizer rewrites meanwhile.
        let site = &w.a.site;
        let list = get(w, &format!("/v1/sites/{site}/content?limit=100"), &w.viewer_a).await;
        let other = list["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter_map(|c| c["id"].as_str())
            .find(|id| *id != w.a.content);
        let content = other.expect("the run wrote several articles");
        let body = get(w, &article_uri(site, content, "analysis"), &w.viewer_a).await;
        assert_eq!(body["content_id"], json!(content), "{body}");
        assert!(body["focus_keyphrase"].as_str().is_some_and(|k| !k.is_empty()), "the cluster's pillar: {body}");
        assert_analysis("analysis", &body["analysis"]);
        let ids: Vec<&str> =
            body["analysis"]["checks"].as_array().expect("checks").iter().filter_map(|c| c["id"].as_str()).collect();
        for id in ["keyphrase_density", "meta_description_length", "flesch_reading_ease", "internal_links"] {
            assert!(ids.contains(&id), "{id} is among the checks: {ids:?}");
        }
        assert!(body["validation"]["issues"].is_array(), "{body}");

        let report = get(w, &article_uri(site, content, "validation"), &w.viewer_a).await;
        let issues = report["issues"].as_array().expect("issues");
        for issue in issues {
            assert!(issue["code"].as_str().is_some_and(|c| !c.is_empty()), "{issue}");
            assert!(matches!(issue["severity"].as_str(), Some("error" | "warning")), "{issue}");
            assert!(issue["message"].as_str().is_some_and(|m| !m.is_empty()), "{issue}");
        }
        // Errors first: no error follows a warning.
        let severities: Vec<&str> = issues.iter().filter_map(|i| i["severity"].as_str()).collect();
        assert!(severities.windows(2).all(|p| !(p[0] == "warning" && p[1] == "error")), "{severities:?}");
        // The same article, the same findings, whichever route shows them.
        assert_eq!(report["issues"], body["validation"]["issues"]);
    });
}

#[test]
fn optimizing_charges_once_keeps_only_a_better_version_and_costs_nothing_when_it_cannot_run() {
    block_on(async {
        let w = world().await;
        let (site, content) = (&w.a.site, &w.a.content);
        let before_analysis = get(w, &article_uri(site, content, "analysis"), &w.viewer_a).await;
        let estimate = get(w, &article_uri(site, content, "optimize/estimate"), &w.viewer_a).await;
        assert_eq!(
            (estimate["content_id"].as_str(), estimate["operation"].as_str()),
            (Some(content.as_str()), Some("optimization")),
            "{estimate}"
        );
        let credits = estimate["credits"].as_i64().expect("credits");
        assert!(credits > 0 && estimate["units"].as_i64().is_some_and(|u| u > 0), "{estimate}");
        let (_, available) = balance(w, &w.owner_a).await;
        assert_eq!(estimate["available"].as_i64(), Some(available), "{estimate}");
        let flagged = estimate["flagged"].as_array().expect("flagged").clone();

        // The rewrite, charged once; a repeat of the key is the first answer replayed.
        let (start, _) = balance(w, &w.owner_a).await;
        let uri = article_uri(site, content, "optimize");
        let key = [("idempotency-key", "optimize-once")];
        let (status, _, record) = w.call_with("POST", &uri, &w.editor_a, &key, None).await;
        assert_eq!(status, StatusCode::CREATED, "{record}");
        assert_eq!(
            (record["content_id"].as_str(), record["site_id"].as_str()),
            (Some(content.as_str()), Some(site.as_str()))
        );
        assert_eq!(record["flagged"].as_array(), Some(&flagged), "the estimate's checks were sent: {record}");
        let charged = record["credits"].as_i64().expect("credits");
        assert!(!flagged.is_empty(), "an offline article has something to improve: {estimate}");
        assert!(charged > 0, "charged {charged} ({credits} estimated): {record}");
        let (before, after) =
            (record["before"]["score"].as_u64().expect("before"), record["after"]["score"].as_u64().expect("after"));
        assert_eq!(
            before,
            before_analysis["analysis"]["score"].as_u64().expect("score"),
            "before is the article as it was"
        );
        assert_eq!(record["kept"].as_bool(), Some(after > before), "kept only when it scores higher: {record}");
        let (end, _) = balance(w, &w.owner_a).await;
        assert_eq!(start - end, charged, "the record's credits are what the ledger lost");
        let (status, headers, replay) = w.call_with("POST", &uri, &w.editor_a, &key, None).await;
        assert_eq!((status, &replay), (StatusCode::CREATED, &record), "a repeat is the first answer");
        assert_eq!(headers.get("idempotent-replayed").and_then(|v| v.to_str().ok()), Some("true"));
        assert_eq!(balance(w, &w.owner_a).await.0, end, "a repeat charges nothing");

        // Never a lower score: the article now scores the better of the two.
        let now = get(w, &article_uri(site, content, "analysis"), &w.viewer_a).await;
        assert_eq!(now["analysis"]["score"].as_u64(), Some(before.max(after)), "{now}");
        let article = get(w, &format!("/v1/sites/{site}/content/{content}"), &w.viewer_a).await;
        let shown = if after > before { &record["after"] } else { &record["before"] };
        assert_eq!(article["title"], shown["title"], "the better version is the article");
        let history = get(w, &article_uri(site, content, "optimizations"), &w.viewer_a).await;
        let items = history["items"].as_array().expect("items");
        assert_eq!(items.len(), 1, "one optimization, however often it was asked: {history}");
        assert_eq!(items[0], record);

        // A provider that fails: 502 (refused) or 503 (busy), and nothing charged or
        // recorded — on an article that still has checks to rewrite (a rewritten one may
        // have none, and nothing flagged calls no provider).
        let list = get(w, &format!("/v1/sites/{site}/content?limit=100"), &w.viewer_a).await;
        let mut flagged_article = None;
        for id in list["items"].as_array().expect("items").iter().rev().filter_map(|c| c["id"].as_str()) {
            let estimate = get(w, &article_uri(site, id, "optimize/estimate"), &w.viewer_a).await;
            if id != content && estimate["flagged"].as_array().is_some_and(|f| !f.is_empty()) {
                flagged_article = Some(id.to_owned());
                break;
            }
        }
        let content = &flagged_article.expect("an offline article with something to improve");
        let uri = article_uri(site, content, "optimize");
        for (error, status, code) in [
            (AiError::Provider("401 invalid key".into()), StatusCode::BAD_GATEWAY, "ai_failed"),
            (AiError::Timeout, StatusCode::SERVICE_UNAVAILABLE, "ai_unavailable"),
        ] {
            let (got, problem) = post_on(router_failing_with(w, error), &uri, &w.editor_a).await;
            assert_eq!((got, problem["code"].as_str()), (status, Some(code)), "{problem}");
            assert!(!problem.to_string().contains("invalid key"), "the provider's words stay in the log: {problem}");
            assert_eq!(balance(w, &w.owner_a).await, (end, end), "a failed call costs nothing and holds nothing");
        }

        // Without the credits: 402, nothing charged, nothing recorded.
        let account: AccountId = w.a.account.parse().expect("account");
        let hold = w.rt.services.credits.hold(&account, end - 1, "leave one credit", None, None).await.expect("hold");
        let estimate = get(w, &article_uri(site, content, "optimize/estimate"), &w.viewer_a).await;
        assert_eq!(estimate["available"].as_i64(), Some(1), "{estimate}");
        let (status, _, problem) = w.call("POST", &uri, &w.editor_a, None).await;
        w.rt.services.credits.release(&account, &hold.id).await.expect("release");
        assert_eq!(
            (status, problem["code"].as_str()),
            (StatusCode::PAYMENT_REQUIRED, Some("insufficient_credits")),
            "{problem}"
        );
        assert_eq!(balance(w, &w.owner_a).await, (end, end));
        let history = get(w, &article_uri(site, content, "optimizations"), &w.viewer_a).await;
        assert_eq!(history["items"].as_array().map(Vec::len), Some(0), "nothing recorded: {history}");
        let (_, _, rec) =
            w.call_with("GET", "/v1/billing/reconcile", &w.admin, &[("x-account-id", &w.a.account)], None).await;
        assert_eq!(rec["balanced"].as_bool(), Some(true), "the ledger still adds up: {rec}");
    });
}

#[test]
fn links_are_suggested_with_anchors_and_targets_and_applied_once() {
    block_on(async {
        let w = world().await;
        let site = &w.b.site;
        let apply = format!("/v1/sites/{site}/links/apply");
        // The run linked its articles already; a pass over the site finishes whatever is
        // left, and a second one changes nothing.
        let (status, _, whole) = w.call("POST", &apply, &w.owner_b, Some(json!({}))).await;
        assert_eq!(status, StatusCode::OK, "{whole}");
        let list = get(w, &format!("/v1/sites/{site}/content?limit=100"), &w.owner_b).await;
        let articles = list["items"].as_array().expect("items").len() as u64;
        assert_eq!(whole["articles"].as_u64(), Some(articles), "every article is looked at: {whole}");
        let (status, _, again) = w.call("POST", &apply, &w.owner_b, Some(json!({}))).await;
        assert_eq!(status, StatusCode::OK, "{again}");
        assert_eq!(
            (again["links_added"].as_u64(), again["changed"].as_u64()),
            (Some(0), Some(0)),
            "a second pass adds nothing: {again}"
        );

        // An article that names another gets a link to it suggested, then applied once.
        let site_id: SiteId = site.parse().expect("site");
        let (one, target, phrase) = unlink::relate_two(Arc::clone(&w.rt.services.store), &site_id).await;
        let only = get(w, &format!("/v1/sites/{site}/links/suggestions?content={one}"), &w.owner_b).await;
        let items = only["items"].as_array().expect("items");
        assert!(items.iter().all(|a| a["content_id"] == json!(one)), "only that article: {only}");
        let links: Vec<&Value> = items.iter().flat_map(|a| a["links"].as_array().expect("links")).collect();
        let to_target =
            links.iter().find(|l| l["target"] == json!(target)).unwrap_or_else(|| panic!("a link to {target}: {only}"));
        assert!(
            to_target["anchor"].as_str().is_some_and(|a| phrase.to_lowercase().contains(&a.to_lowercase())
                || a.to_lowercase().contains(&phrase.to_lowercase())),
            "on the words that name it: {to_target}"
        );
        let mut targets: Vec<&str> = links.iter().filter_map(|l| l["target"].as_str()).collect();
        assert_eq!(targets.len(), links.len(), "{only}");
        assert!(!targets.contains(&one.as_str()), "no self-link: {only}");
        targets.sort_unstable();
        targets.dedup();
        assert_eq!(targets.len(), links.len(), "one link per target: {only}");
        for link in &links {
            assert!(link["anchor"].as_str().is_some_and(|a| !a.trim().is_empty()), "{link}");
            assert!(link["url"].as_str().is_some_and(|u| !u.is_empty()), "{link}");
            assert!(link["target_title"].as_str().is_some_and(|t| !t.is_empty()), "{link}");
        }
        let everything = get(w, &format!("/v1/sites/{site}/links/suggestions"), &w.owner_b).await;
        assert!(
            everything["items"].as_array().expect("items").iter().any(|a| a["content_id"] == json!(one)),
            "{everything}"
        );

        let (status, _, report) = w.call("POST", &apply, &w.editor_a, Some(json!({"content_id": one}))).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "A's editor cannot link B's site: {report}");
        let (status, _, report) = w.call("POST", &apply, &w.owner_b, Some(json!({"content_id": one}))).await;
        assert_eq!(status, StatusCode::OK, "{report}");
        assert_eq!((report["articles"].as_u64(), report["changed"].as_u64()), (Some(1), Some(1)), "{report}");
        assert_eq!(
            report["links_added"].as_u64(),
            Some(links.len() as u64),
            "the suggestions are what is applied: {report}"
        );
        let article = get(w, &format!("/v1/sites/{site}/content/{one}"), &w.owner_b).await;
        let html = article["html"].as_str().expect("html");
        assert_eq!(html.matches(unlink::MARKER).count(), links.len(), "the links are in the body: {html}");
        let (_, _, again) = w.call("POST", &apply, &w.owner_b, Some(json!({"content_id": one}))).await;
        assert_eq!((again["links_added"].as_u64(), again["changed"].as_u64()), (Some(0), Some(0)), "{again}");
    });
}

#[test]
fn bad_ids_other_tenants_and_bad_bodies_are_refused_with_problems() {
    block_on(async {
        let w = world().await;
        let (a, b) = (&w.a, &w.b);
        let unknown = "cnt_00000000000000000000000000000000";
        for tail in ["analysis", "validation", "optimize/estimate", "optimizations"] {
            for (content, why) in [("cnt_nothex", "malformed"), (unknown, "unknown"), (b.content.as_str(), "B's")] {
                let uri = article_uri(&a.site, content, tail);
                let (status, _, body) = w.call("GET", &uri, &w.owner_a, None).await;
                assert_eq!(
                    (status, body["code"].as_str()),
                    (StatusCode::NOT_FOUND, Some("not_found")),
                    "{why} {uri}: {body}"
                );
                assert!(!body.to_string().contains(&b.content), "a 404 names nothing: {body}");
            }
            // B's article on B's site, asked by A: 404 too.
            let uri = article_uri(&b.site, &b.content, tail);
            let (status, _, body) = w.call("GET", &uri, &w.owner_a, None).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{uri}: {body}");
        }
        for (n, content) in ["cnt_nothex", unknown, b.content.as_str()].into_iter().enumerate() {
            let uri = article_uri(&a.site, content, "optimize");
            let key = format!("bad-id-{n}");
            let (status, _, body) = w.call_with("POST", &uri, &w.editor_a, &[("idempotency-key", &key)], None).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{uri}: {body}");
        }
        let uri = article_uri(&a.site, &a.content, "optimize");
        let (status, _, body) = w.call("POST", &uri, &w.viewer_a, None).await;
        assert_eq!((status, body["code"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")), "{body}");
        let (status, _, body) = w.call_with("POST", &uri, &w.editor_a, &[("idempotency-key", "has space")], None).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_idempotency_key")),
            "{body}"
        );

        let suggestions = format!("/v1/sites/{}/links/suggestions", a.site);
        let (status, _, body) = w.call("GET", &format!("{suggestions}?content=nope"), &w.owner_a, None).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("validation_failed")),
            "{body}"
        );
        for content in [unknown, b.content.as_str()] {
            let (status, _, body) = w.call("GET", &format!("{suggestions}?content={content}"), &w.owner_a, None).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{content}: {body}");
        }
        let (status, _, body) =
            w.call("GET", &format!("/v1/sites/{}/links/suggestions", b.site), &w.owner_a, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "B's site: {body}");
        let (status, _, body) = w.call("GET", "/v1/sites/site_nothex/links/suggestions", &w.owner_a, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");

        let apply = format!("/v1/sites/{}/links/apply", a.site);
        for (body, code) in [
            (json!({"content_id": "nope"}), "validation_failed"),
            (json!({"content": a.content}), "validation_failed"),
            (json!({"content_id": 7}), "validation_failed"),
        ] {
            let (status, _, problem) = w.call("POST", &apply, &w.editor_a, Some(body.clone())).await;
            assert_eq!(
                (status, problem["code"].as_str()),
                (StatusCode::UNPROCESSABLE_ENTITY, Some(code)),
                "{body}: {problem}"
            );
        }
        let (status, _, body) = w.call("POST", &apply, &w.editor_a, None).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::UNSUPPORTED_MEDIA_TYPE, Some("unsupported_media_type")),
            "{body}"
        );
        let (status, _, body) = w.call("POST", &apply, &w.editor_a, Some(json!({"content_id": unknown}))).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        let (status, _, body) = w.call("POST", &apply, &w.viewer_a, Some(json!({}))).await;
        assert_eq!((status, body["code"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")), "{body}");
        let (status, _, body) = w.call("POST", &apply, "", Some(json!({}))).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    });
}
