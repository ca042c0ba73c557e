//! `igny8 integrations add|list|test|sync|remove`: a site's WordPress site or Shopify
//! store from a terminal, through the same IntegrationService and SyncService the API
//! uses. Secrets come from flags, the environment (`IGNY8_APP_PASSWORD`,
//! `IGNY8_SHOPIFY_TOKEN`, `IGNY8_SHOPIFY_CLIENT_SECRET`) or stdin (`-`), and are never
//! printed: every output is an [`IntegrationView`], a report or a count.

use std::io::BufRead;

use igny8_core::domain::{
    ConnectionReport, Credentials, IntegrationId, IntegrationView, Platform, PlatformFault, SiteIntegration,
};
use igny8_core::integration::{IntegrationError, NewIntegration, SyncReport};
use serde_json::json;

use crate::args::{IntegrationChoice, IntegrationsCommand};
use crate::commands::Output;
use crate::error::CliError;
use crate::keywords::{open_site, SiteScope};
use crate::run::Target;

/// Exit status of a test or sync the platform refused (the report is still printed).
const REFUSED: u8 = 3;

/// A secret as given: `-` reads one line from stdin (so it is in no shell history).
fn secret(flag: &str, value: Option<String>) -> Result<String, CliError> {
    let value = value.ok_or_else(|| CliError::invalid("validation_failed", format!("--{flag} is required")))?;
    if value != "-" {
        return Ok(value);
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| CliError::invalid("validation_failed", format!("--{flag} -: cannot read stdin: {e}")))?;
    let line = line.trim_end_matches(['\r', '\n']).to_owned();
    if line.trim().is_empty() {
        return Err(CliError::invalid("validation_failed", format!("--{flag} -: stdin gave an empty line")));
    }
    Ok(line)
}

fn required(flag: &str, value: Option<String>) -> Result<String, CliError> {
    value.ok_or_else(|| CliError::invalid("validation_failed", format!("--{flag} is required")))
}

fn not_for(platform: Platform, flags: &[(&str, bool)]) -> Result<(), CliError> {
    match flags.iter().find(|(_, given)| *given) {
        Some((flag, _)) => {
            Err(CliError::invalid("validation_failed", format!("--{flag} is not an option of {platform}")))
        }
        None => Ok(()),
    }
}

/// The flags of `integrations add` that carry the address and the secrets.
struct AddFlags {
    url: Option<String>,
    shop: Option<String>,
    username: Option<String>,
    app_password: Option<String>,
    token: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

/// The address and credentials `flags` give for `platform`, or the flag that is wrong.
fn address_and_credentials(platform: Platform, flags: AddFlags) -> Result<(String, Credentials), CliError> {
    match platform {
        Platform::Wordpress => {
            not_for(
                platform,
                &[
                    ("shop", flags.shop.is_some()),
                    ("token", flags.token.is_some()),
                    ("client-id", flags.client_id.is_some()),
                    ("client-secret", flags.client_secret.is_some()),
                ],
            )?;
            let url = required("url", flags.url)?;
            let username = required("username", flags.username)?;
            let app_password = secret("app-password", flags.app_password)?;
            Ok((url, Credentials::WordpressAppPassword { username, app_password }))
        }
        Platform::Shopify => {
            not_for(
                platform,
                &[
                    ("url", flags.url.is_some()),
                    ("username", flags.username.is_some()),
                    ("app-password", flags.app_password.is_some()),
                ],
            )?;
            let shop = required("shop", flags.shop)?;
            let credentials = match (flags.token, flags.client_id, flags.client_secret) {
                (Some(token), None, None) => {
                    Credentials::ShopifyAccessToken { access_token: secret("token", Some(token))? }
                }
                (None, Some(client_id), secret_flag) => Credentials::ShopifyClientCredentials {
                    client_id,
                    client_secret: secret("client-secret", secret_flag)?,
                },
                _ => {
                    return Err(CliError::invalid(
                        "validation_failed",
                        "shopify takes --token, or --client-id with --client-secret",
                    ))
                }
            };
            Ok((shop, credentials))
        }
    }
}

fn parse_platform(text: &str) -> Result<Platform, CliError> {
    Ok(text.parse::<Platform>().map_err(IntegrationError::from)?)
}

/// The integration `which` names on the scope's site.
async fn chosen(scope: &SiteScope, which: &IntegrationChoice) -> Result<IntegrationId, CliError> {
    let integrations = &scope.rt.services.integrations;
    if let Some(id) = &which.integration {
        return Ok(id.parse()?);
    }
    let platform = parse_platform(which.platform.as_deref().unwrap_or_default())?;
    let all = integrations.list(&scope.account, &scope.site).await?;
    let mut of_platform: Vec<&SiteIntegration> = all.iter().filter(|i| i.platform == platform).collect();
    // The active one when there is one, else the newest.
    of_platform.sort_by_key(|i| (i.active, i.created_at.clone()));
    of_platform
        .last()
        .map(|i| i.id.clone())
        .ok_or_else(|| CliError::NotFound(format!("the site has no {platform} integration")))
}

fn view_line(v: &IntegrationView) -> String {
    format!(
        "{} {:<9} {:<8} health {:<8} sync {:<6} {}",
        v.id,
        v.platform,
        if v.active { "active" } else { "inactive" },
        format!("{:?}", v.health.status).to_lowercase(),
        format!("{:?}", v.sync_status).to_lowercase(),
        v.base_url
    )
}

fn fault_text(fault: Option<&PlatformFault>) -> String {
    match fault {
        Some(f) => match &f.platform_code {
            Some(platform_code) => format!("{} ({platform_code}): {}", f.code, f.message),
            None => format!("{}: {}", f.code, f.message),
        },
        None => "failed without an error".to_owned(),
    }
}

fn report_text(r: &ConnectionReport) -> String {
    if !r.success {
        return format!("connection failed: {}", fault_text(r.error.as_ref()));
    }
    let who = r.identity.as_ref().map_or_else(String::new, |i| {
        if i.roles.is_empty() {
            format!(" as {}", i.name)
        } else {
            format!(" as {} ({})", i.name, i.roles.join(", "))
        }
    });
    let mut text = format!(
        "connected to {}{who}: {} publish, {} upload",
        r.platform,
        if r.can_publish { "can" } else { "cannot" },
        if r.can_upload { "can" } else { "cannot" }
    );
    if let Some(version) = &r.version {
        text.push_str(&format!("; version {version}"));
    }
    if let Some(root) = &r.api_root {
        text.push_str(&format!("; API {root}"));
    }
    if !r.scopes.is_empty() {
        text.push_str(&format!("; scopes {}", r.scopes.join(",")));
    }
    text
}

fn sync_text(r: &SyncReport) -> String {
    if !r.success {
        return format!("sync failed: {}", fault_text(r.error.as_ref()));
    }
    format!(
        "synced {}: {} publications checked, {} changed, {} deleted remotely; {} categories, {} tags, {} authors",
        r.integration_id, r.checked, r.changed, r.remote_deleted, r.categories, r.tags, r.authors
    )
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<serde_json::Value, CliError> {
    serde_json::to_value(value).map_err(|e| CliError::Failure(e.to_string()))
}

/// Runs an integrations command.
pub async fn integrations(target: &Target, cmd: IntegrationsCommand) -> Result<Output, CliError> {
    match cmd {
        IntegrationsCommand::Add {
            site,
            platform,
            url,
            shop,
            username,
            app_password,
            token,
            client_id,
            client_secret,
            no_sync,
        } => {
            let platform = parse_platform(&platform)?;
            let flags = AddFlags { url, shop, username, app_password, token, client_id, client_secret };
            let (base_url, credentials) = address_and_credentials(platform, flags)?;
            let scope = open_site(target, &site).await?;
            let input = NewIntegration {
                platform: platform.as_str().to_owned(),
                base_url,
                credentials,
                sync_enabled: !no_sync,
            };
            let created = scope.rt.services.integrations.create(&scope.account, &scope.site, input).await?;
            let view = IntegrationView::from(&created);
            let text = format!("added {} ({} {})", view.id, view.platform, view.base_url);
            Ok(Output::new(to_json(&view)?, text))
        }
        IntegrationsCommand::List { site } => {
            let scope = open_site(target, &site).await?;
            let all = scope.rt.services.integrations.list(&scope.account, &scope.site).await?;
            let views: Vec<IntegrationView> = all.iter().map(IntegrationView::from).collect();
            let text = if views.is_empty() {
                "no integrations".to_owned()
            } else {
                views.iter().map(view_line).collect::<Vec<_>>().join("\n")
            };
            Ok(Output::new(json!({ "integrations": views }), text))
        }
        IntegrationsCommand::Test { site, which } => {
            let scope = open_site(target, &site).await?;
            let id = chosen(&scope, &which).await?;
            let report = scope.rt.services.integrations.test_connection(&scope.account, &scope.site, &id).await?;
            let mut out = Output::new(to_json(&report)?, report_text(&report));
            if !report.success {
                out.set_exit(REFUSED);
            }
            Ok(out)
        }
        IntegrationsCommand::Sync { site, which } => {
            let scope = open_site(target, &site).await?;
            let id = chosen(&scope, &which).await?;
            let report = scope.rt.services.sync.sync(&scope.account, &scope.site, &id).await?;
            let mut out = Output::new(to_json(&report)?, sync_text(&report));
            if !report.success {
                out.set_exit(REFUSED);
            }
            Ok(out)
        }
        IntegrationsCommand::Remove { site, which } => {
            let scope = open_site(target, &site).await?;
            let id = chosen(&scope, &which).await?;
            scope.rt.services.integrations.delete(&scope.account, &scope.site, &id).await?;
            Ok(Output::new(json!({ "removed": id }), format!("removed {id}")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags() -> AddFlags {
        AddFlags {
            url: None,
            shop: None,
            username: None,
            app_password: None,
            token: None,
            client_id: None,
            client_secret: None,
        }
    }

    #[test]
    fn each_platform_takes_its_own_flags_and_refuses_the_others() {
        let wp = AddFlags {
            url: Some("http://127.0.0.1/wp".into()),
            username: Some("author".into()),
            app_password: Some("abcd efgh".into()),
            ..flags()
        };
        let (url, creds) = address_and_credentials(Platform::Wordpress, wp).expect("wordpress");
        assert_eq!((url.as_str(), creds.kind()), ("http://127.0.0.1/wp", "wordpress_app_password"));
        let wrong = AddFlags { token: Some("shpat_x".into()), ..flags() };
        let err = address_and_credentials(Platform::Wordpress, wrong).expect_err("a token is not wordpress's");
        assert!(err.to_string().contains("--token"), "{err}");
        let shop = AddFlags { shop: Some("x.myshopify.com".into()), token: Some("shpat_x".into()), ..flags() };
        let (_, creds) = address_and_credentials(Platform::Shopify, shop).expect("token");
        assert_eq!(creds.kind(), "shopify_access_token");
        let both = AddFlags {
            shop: Some("x.myshopify.com".into()),
            token: Some("t".into()),
            client_id: Some("id".into()),
            ..flags()
        };
        assert!(address_and_credentials(Platform::Shopify, both).is_err());
        let client = AddFlags {
            shop: Some("x.myshopify.com".into()),
            client_id: Some("id".into()),
            client_secret: Some("s".into()),
            ..flags()
        };
        let (_, creds) = address_and_credentials(Platform::Shopify, client).expect("client credentials");
        assert_eq!(creds.kind(), "shopify_client_credentials");
        let missing = AddFlags { url: Some("http://127.0.0.1".into()), username: Some("u".into()), ..flags() };
        let err = address_and_credentials(Platform::Wordpress, missing).expect_err("no password");
        assert_eq!(err.code(), "validation_failed");
    }

    #[test]
    fn an_unknown_platform_is_unsupported_platform() {
        let err = parse_platform("wix").expect_err("wix");
        assert_eq!((err.code(), err.exit_code()), ("unsupported_platform", 2));
    }
}
