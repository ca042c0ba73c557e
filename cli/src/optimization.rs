//! `igny8 content analyze|validate|optimize`: an article's score with every check, its
//! validation report, and an AI rewrite of what the analyzer flags — the same services
//! the API uses. Optimizing shows its estimate and asks before it charges anything.

use std::io::{BufRead, IsTerminal, Write};
use std::sync::Arc;

use igny8_core::domain::{ContentId, OptimizationRecord};
use igny8_core::optimization::{ContentAnalysis, OptimizationService, OptimizeEstimate};
use igny8_core::seo::{Severity, ValidationReport};
use serde_json::json;

use crate::args::{ContentCommand, SiteArg};
use crate::commands::Output;
use crate::error::CliError;
use crate::keywords::{open_site, SiteScope};
use crate::run::Target;

/// Exit status of `content validate` when the article has errors (it would be refused
/// approval), as a refused request's.
const HAS_ERRORS: u8 = 3;

fn to_json<T: serde::Serialize>(value: &T) -> Result<serde_json::Value, CliError> {
    serde_json::to_value(value).map_err(|e| CliError::Failure(e.to_string()))
}

/// The optimizer over the runtime's services and AI provider.
fn optimizer(scope: &SiteScope) -> OptimizationService {
    let services = &scope.rt.services;
    OptimizationService::new(
        services.checks.clone(),
        services.credits.clone(),
        Arc::clone(&scope.rt.automation.ports().ai),
        Arc::clone(&services.clock),
        Arc::clone(&services.ids),
    )
}

async fn open(target: &Target, site: &SiteArg, content: &str) -> Result<(SiteScope, ContentId), CliError> {
    // A malformed id is refused before anything is opened.
    let id: ContentId = content.parse()?;
    Ok((open_site(target, site).await?, id))
}

fn issue_lines(report: &ValidationReport) -> Vec<String> {
    let errors = report.issues.iter().filter(|i| i.severity == Severity::Error).count();
    let warnings = report.issues.len() - errors;
    let mut lines = vec![format!("validation: {errors} errors, {warnings} warnings")];
    for issue in &report.issues {
        let severity = match issue.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        lines.push(format!("  {severity:<7} {:<28} {}", issue.code, issue.message));
    }
    if report.sanitized_html.is_some() {
        lines.push("  (a CMS would strip parts of the body: see sanitized_html in --json)".to_owned());
    }
    lines
}

fn analysis_text(a: &ContentAnalysis) -> String {
    let mut lines = vec![
        format!("{} focus keyphrase {:?}", a.content_id, a.focus_keyphrase),
        format!("{:<32} {:<11} {:>5}  message", "check", "group", "score"),
    ];
    for check in &a.analysis.checks {
        let group = format!("{:?}", check.group).to_lowercase();
        let flag = if check.is_flagged() { "*" } else { " " };
        lines.push(format!("{:<32} {group:<11} {:>3}/9{flag} {}", check.id, check.score, check.message));
    }
    lines.push(format!(
        "score {}/100 ({} rules; * flagged for the optimizer) · {} words, keyphrase density {:.1} %, Flesch {:.0}",
        a.analysis.score,
        a.analysis.language,
        a.analysis.stats.words,
        a.analysis.stats.keyphrase_density,
        a.analysis.stats.flesch_reading_ease
    ));
    lines.extend(issue_lines(&a.validation));
    lines.join("\n")
}

fn estimate_text(e: &OptimizeEstimate) -> String {
    let flagged = if e.flagged.is_empty() { "none".to_owned() } else { e.flagged.join(", ") };
    format!(
        "optimizing {} costs about {} credits ({} {} units); {} available\nflagged checks: {flagged}",
        e.content_id, e.credits, e.units, e.operation, e.available
    )
}

fn record_text(r: &OptimizationRecord) -> String {
    let verdict = if r.kept {
        "kept: the article is the rewrite".to_owned()
    } else {
        "not kept: the rewrite scored no higher, the article is unchanged".to_owned()
    };
    format!(
        "{} score {} -> {} ({verdict})\n{} credits charged · model {} · optimization {}",
        r.content_id, r.before.score, r.after.score, r.credits, r.model, r.id
    )
}

/// Asks on the terminal whether to go ahead; anything but yes (or no terminal) is no.
fn confirm(question: &str) -> Result<bool, CliError> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Ok(false);
    }
    let mut err = std::io::stderr();
    write!(err, "{question} [y/N] ").and_then(|()| err.flush()).map_err(|e| CliError::Failure(e.to_string()))?;
    let mut answer = String::new();
    stdin.lock().read_line(&mut answer).map_err(|e| CliError::Failure(e.to_string()))?;
    Ok(matches!(answer.trim().to_lowercase().as_str(), "y" | "yes"))
}

async fn optimize(scope: &SiteScope, id: &ContentId, yes: bool) -> Result<Output, CliError> {
    let service = optimizer(scope);
    let estimate = service.estimate(&scope.account, &scope.site, id).await?;
    if estimate.available < estimate.credits {
        return Err(CliError::Refused {
            code: "insufficient_credits",
            message: format!(
                "optimizing {id} needs about {} credits; {} are available (add credits first)",
                estimate.credits, estimate.available
            ),
        });
    }
    if !yes {
        eprintln!("{}", estimate_text(&estimate));
        if !confirm("optimize?")? {
            return Err(CliError::Refused {
                code: "not_confirmed",
                message: "not optimized, nothing charged (answer y on a terminal, or pass --yes)".to_owned(),
            });
        }
    }
    let record = service.optimize(&scope.account, &scope.site, id, None).await?;
    let doc = json!({ "estimate": to_json(&estimate)?, "optimization": to_json(&record)? });
    let text =
        if yes { format!("{}\n{}", estimate_text(&estimate), record_text(&record)) } else { record_text(&record) };
    Ok(Output::new(doc, text))
}

/// `igny8 content analyze|validate|optimize`.
pub async fn content(target: &Target, cmd: ContentCommand) -> Result<Output, CliError> {
    match cmd {
        ContentCommand::Analyze { site, content } => {
            let (scope, id) = open(target, &site, &content).await?;
            let analysis = scope.rt.services.checks.analyze(&scope.account, &scope.site, &id).await?;
            Ok(Output::new(to_json(&analysis)?, analysis_text(&analysis)))
        }
        ContentCommand::Validate { site, content } => {
            let (scope, id) = open(target, &site, &content).await?;
            let report = scope.rt.services.checks.validate(&scope.account, &scope.site, &id).await?;
            let mut out = Output::new(to_json(&report)?, issue_lines(&report).join("\n"));
            if report.is_blocking() {
                eprintln!("error: {id} has validation errors: it cannot be approved or published until they are fixed");
                out.set_exit(HAS_ERRORS);
            }
            Ok(out)
        }
        ContentCommand::Optimize { site, content, yes } => {
            let (scope, id) = open(target, &site, &content).await?;
            optimize(&scope, &id, yes).await
        }
        _ => Err(CliError::Failure("unreachable: not an optimization command".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use igny8_core::seo::{Analysis, Check, CheckGroup, TextStats, ValidationIssue};

    fn analysis(issues: Vec<ValidationIssue>) -> ContentAnalysis {
        let check = |id: &str, group, score| Check { id: id.into(), group, score, message: format!("{id} said") };
        ContentAnalysis {
            content_id: ContentId::derive("article"),
            focus_keyphrase: "trail shoes".into(),
            analysis: Analysis {
                score: 64,
                language: "en".into(),
                checks: vec![
                    check("keyphrase_density", CheckGroup::Seo, 9),
                    check("passive_voice", CheckGroup::Readability, 3),
                ],
                stats: TextStats {
                    words: 812,
                    sentences: 40,
                    keyphrase_count: 9,
                    keyphrase_density: 1.1,
                    flesch_reading_ease: 61.4,
                },
            },
            validation: ValidationReport { issues, sanitized_html: None },
        }
    }

    #[test]
    fn the_analysis_table_shows_every_check_flags_and_the_total() {
        let warning = ValidationIssue {
            code: "image_missing_alt".into(),
            severity: Severity::Warning,
            message: "an image has no alt text".into(),
        };
        let text = analysis_text(&analysis(vec![warning]));
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].contains("\"trail shoes\""), "{text}");
        assert!(
            lines.iter().any(|l| l.starts_with("keyphrase_density")
                && l.contains("seo")
                && l.contains(" 9/9 ")
                && l.ends_with("keyphrase_density said")),
            "{text}"
        );
        assert!(
            lines.iter().any(|l| l.starts_with("passive_voice") && l.contains("readability") && l.contains(" 3/9*")),
            "{text}"
        );
        assert!(text.contains("score 64/100 (en rules"), "{text}");
        assert!(text.contains("validation: 0 errors, 1 warnings"), "{text}");
        assert!(text.contains("warning image_missing_alt"), "{text}");
    }

    #[test]
    fn errors_are_counted_apart_from_warnings() {
        let issue = |code: &str, severity| ValidationIssue { code: code.into(), severity, message: "m".into() };
        let report = ValidationReport {
            issues: vec![issue("missing_meta_description", Severity::Error), issue("empty_link", Severity::Warning)],
            sanitized_html: Some("<p>x</p>".into()),
        };
        let lines = issue_lines(&report);
        assert_eq!(lines[0], "validation: 1 errors, 1 warnings");
        assert!(lines[1].trim_start().starts_with("error   missing_meta_description"), "{lines:?}");
        assert!(lines.last().is_some_and(|l| l.contains("sanitized_html")), "{lines:?}");
    }
}
