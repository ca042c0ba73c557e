//! Content ideas from a keyword cluster: intent-specific title templates, an H2
//! outline built from the cluster's own keywords, and a word target that grows with
//! the cluster (more keywords → more subtopics to cover → a longer article).
//!
//! Idea 0 targets the pillar keyword; further ideas target the next-highest-volume
//! members (falling back to the pillar with a different angle), so one cluster never
//! produces several articles competing for the same query.

use crate::{AiError, ClusterOut, IdeaOut, KeywordInput};

use super::text::{self, FxHashMap, Intent, StemCache};

/// Shortest and longest word targets an idea may carry.
pub const MIN_WORDS: u32 = 800;
/// See [`MIN_WORDS`].
pub const MAX_WORDS: u32 = 2500;

/// Word target for a cluster of `size` keywords: 800 plus 150 per extra keyword,
/// capped at 2500.
pub fn word_target_for(size: usize) -> u32 {
    let extra = u32::try_from(size.saturating_sub(1)).unwrap_or(u32::MAX).saturating_mul(150);
    MIN_WORDS.saturating_add(extra).min(MAX_WORDS)
}

/// Title templates per intent; `{k}` is the title-cased target keyword, `{y}` the
/// year, `{a}`/`{b}` two secondary keywords (comparison templates only).
fn templates(intent: Intent) -> &'static [(&'static str, &'static str)] {
    match intent {
        Intent::Informational => &[
            ("The Complete Guide to {k}", "guide"),
            ("How to Get Started with {k}: A Step-by-Step Guide", "how_to"),
            ("{k} Explained: Everything You Need to Know", "guide"),
            ("{k}: Common Questions Answered", "guide"),
        ],
        Intent::Commercial => &[
            ("Best {k} in {y}: Our Top Picks", "listicle"),
            ("{a} vs {b}: Which Is Right for You?", "comparison"),
            ("{k} Reviews: What Actually Matters Before You Choose", "review"),
            ("Top {k} Compared: Pros, Cons and Prices", "listicle"),
        ],
        Intent::Transactional => &[
            ("Where to Buy {k}: Prices, Deals and What to Check", "product_page"),
            ("{k} Price Guide {y}: How to Get the Best Deal", "product_page"),
            ("Cheap {k}: Smart Ways to Save Without Regret", "listicle"),
        ],
        Intent::Navigational => &[
            ("{k}: Official Resources, Login and Support", "resource_page"),
            ("{k} Help Center: Quick Answers and Useful Links", "resource_page"),
        ],
    }
}

/// Opening and closing H2s per intent, framing the keyword-based sections.
fn frame(intent: Intent, k: &str) -> (String, String) {
    match intent {
        Intent::Informational => (format!("Understanding {k}"), "Frequently Asked Questions".to_string()),
        Intent::Commercial => (format!("How We Evaluated {k}"), "Our Verdict".to_string()),
        Intent::Transactional => (format!("What to Know Before Buying {k}"), "Final Buying Checklist".to_string()),
        Intent::Navigational => (format!("About {k}"), "Getting Further Help".to_string()),
    }
}

/// Builds up to `count` distinct ideas for a cluster (see the module docs for the
/// targeting rule); a small cluster may support fewer distinct ideas than asked.
pub fn generate_ideas(
    cluster: &ClusterOut,
    keywords: &[KeywordInput],
    count: usize,
    year: i32,
) -> Result<Vec<IdeaOut>, AiError> {
    check_cluster(cluster, keywords)?;
    let intent = Intent::parse(&cluster.intent).unwrap_or(Intent::Informational);
    let pillar = text::clean_phrase(&cluster.pillar_keyword);
    let phrases = distinct_phrases(cluster, keywords, &pillar);
    if phrases.is_empty() {
        return Err(AiError::InvalidInput("cluster keywords contain no words".into()));
    }
    let word_target = word_target_for(cluster.keywords.len());
    let sections = (word_target / 250).clamp(4, 10) as usize;
    let tmpl = templates(intent);
    let mut ideas = Vec::with_capacity(count);
    for n in 0..count {
        let target = phrases.get(n).cloned().unwrap_or_else(|| pillar.clone());
        let others: Vec<String> = phrases.iter().filter(|p| **p != target).cloned().collect();
        let mut pick = n % tmpl.len();
        // Comparison titles need two distinct secondary keywords.
        if tmpl[pick].0.contains("{a}") && others.len() < 2 {
            pick = (pick + 1) % tmpl.len();
        }
        let (pattern, content_type) = tmpl[pick];
        // Templates add their own "Best"/"Buy"/"How to", so they get the bare topic.
        let k = text::title_case(&text::topic_phrase(&target));
        let title = fill_title(pattern, &k, year, &target, &others);
        let outline = outline_for(intent, &k, &others, n, sections);
        // A small cluster runs out of distinct angles; never repeat an idea.
        if ideas.iter().any(|i: &IdeaOut| i.title == title) {
            continue;
        }
        ideas.push(IdeaOut {
            title,
            outline,
            target_keyword: target.clone(),
            secondary_keywords: others.into_iter().take(8).collect(),
            word_target,
            content_type: content_type.to_string(),
        });
    }
    Ok(ideas)
}

/// Rejects a cluster with no keywords or with indices outside `keywords`, so the
/// rest of the module can index without checks.
fn check_cluster(cluster: &ClusterOut, keywords: &[KeywordInput]) -> Result<(), AiError> {
    if cluster.keywords.is_empty() {
        return Err(AiError::InvalidInput("cluster has no keywords".into()));
    }
    if let Some(bad) = cluster.keywords.iter().find(|&&i| i >= keywords.len()) {
        return Err(AiError::InvalidInput(format!(
            "cluster keyword index {bad} is outside the {} keywords given",
            keywords.len()
        )));
    }
    Ok(())
}

/// The pillar, then the members by volume, de-duplicated by their stemmed term
/// signature so "running shoe" and "running shoes" yield one heading.
fn distinct_phrases(cluster: &ClusterOut, keywords: &[KeywordInput], pillar: &str) -> Vec<String> {
    let mut members: Vec<usize> = cluster.keywords.clone();
    members.sort_by(|&a, &b| keywords[b].volume.cmp(&keywords[a].volume).then_with(|| a.cmp(&b)));
    let mut stems = StemCache::new();
    let mut seen: FxHashMap<Vec<String>, ()> = FxHashMap::default();
    let mut phrases: Vec<String> = Vec::new();
    for phrase in
        std::iter::once(pillar.to_string()).chain(members.iter().map(|&i| text::clean_phrase(&keywords[i].keyword)))
    {
        if phrase.is_empty() {
            continue;
        }
        let mut sig: Vec<String> = text::tokenize(&phrase)
            .iter()
            .filter(|t| !text::is_stop_word(t))
            .map(|t| stems.stem(t).to_string())
            .collect();
        sig.sort();
        sig.dedup();
        if seen.insert(sig, ()).is_none() {
            phrases.push(phrase);
        }
    }
    phrases
}

/// Fills a title template: `k` is the title-cased topic, and the comparison slots
/// take the first two secondary keywords (the target when there are too few).
fn fill_title(pattern: &str, k: &str, year: i32, target: &str, others: &[String]) -> String {
    pattern
        .replace("{k}", k)
        .replace("{y}", &year.to_string())
        .replace("{a}", &text::title_case(others.first().map(String::as_str).unwrap_or(target)))
        .replace("{b}", &text::title_case(others.get(1).map(String::as_str).unwrap_or(target)))
}

/// The H2 outline of idea `n`: the intent's opening heading, the secondary
/// keywords (rotated by `n` so ideas differ), intent-neutral pads for small
/// clusters, and the intent's closing heading.
fn outline_for(intent: Intent, k: &str, others: &[String], n: usize, sections: usize) -> Vec<String> {
    let (open, close) = frame(intent, k);
    let mut outline = vec![open];
    let rotation = if others.is_empty() { 0 } else { n % others.len() };
    for phrase in others.iter().cycle().skip(rotation).take(others.len().min(sections.saturating_sub(2))) {
        let h = text::title_case(phrase);
        if !outline.contains(&h) {
            outline.push(h);
        }
    }
    // Small clusters: pad with intent-neutral angles on the target keyword.
    let pads = [
        format!("Key Benefits of {k}"),
        format!("Common Mistakes with {k}"),
        format!("Practical Tips for {k}"),
        format!("How {k} Compares to the Alternatives"),
    ];
    for p in pads {
        if outline.len() + 1 >= sections.min(6) {
            break;
        }
        outline.push(p);
    }
    outline.push(close);
    outline
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (ClusterOut, Vec<KeywordInput>) {
        let kws = vec![
            KeywordInput::new("running shoes", 5000),
            KeywordInput::new("best running shoes", 3000),
            KeywordInput::new("running shoe", 100),
            KeywordInput::new("trail running shoes", 900),
            KeywordInput::new("running shoes for flat feet", 400),
        ];
        let cluster = ClusterOut {
            name: "Running Shoes".into(),
            pillar_keyword: "running shoes".into(),
            keywords: vec![0, 1, 2, 3, 4],
            intent: "commercial".into(),
            total_volume: 9400,
            description: String::new(),
        };
        (cluster, kws)
    }

    #[test]
    fn idea_shape() {
        let (cluster, kws) = setup();
        let ideas = generate_ideas(&cluster, &kws, 3, 2026).unwrap();
        assert_eq!(ideas.len(), 3);
        let first = &ideas[0];
        assert_eq!(first.title, "Best Running Shoes in 2026: Our Top Picks");
        assert_eq!(first.target_keyword, "running shoes");
        assert_eq!(first.content_type, "listicle");
        assert_eq!(first.word_target, word_target_for(5));
        assert!(first.outline.len() >= 4);
        // "running shoe" is a variant of the pillar and must not become its own heading.
        assert!(!first.outline.iter().any(|h| h == "Running Shoe"));
        let mut dedup = first.outline.clone();
        dedup.sort();
        dedup.dedup();
        assert_eq!(dedup.len(), first.outline.len());
        assert!(first.outline.iter().any(|h| h == "Trail Running Shoes"));
        assert!(!first.secondary_keywords.contains(&first.target_keyword));
        assert_ne!(ideas[1].target_keyword, ideas[0].target_keyword);
        assert!(ideas[1].title.contains(" vs "));
    }

    #[test]
    fn word_targets_scale_and_clamp() {
        assert_eq!(word_target_for(1), 800);
        assert_eq!(word_target_for(3), 1100);
        assert_eq!(word_target_for(500), 2500);
    }

    #[test]
    fn bad_indices_are_rejected() {
        let (mut cluster, kws) = setup();
        cluster.keywords.push(99);
        assert!(matches!(generate_ideas(&cluster, &kws, 1, 2026), Err(AiError::InvalidInput(_))));
    }

    #[test]
    fn ideas_never_repeat() {
        let (mut cluster, kws) = setup();
        cluster.keywords = vec![0];
        let ideas = generate_ideas(&cluster, &kws, 20, 2026).unwrap();
        assert!(!ideas.is_empty() && ideas.len() <= 4);
        let mut titles: Vec<&str> = ideas.iter().map(|i| i.title.as_str()).collect();
        titles.sort();
        titles.dedup();
        assert_eq!(titles.len(), ideas.len());
    }

    #[test]
    fn zero_count_gives_no_ideas() {
        let (cluster, kws) = setup();
        assert!(generate_ideas(&cluster, &kws, 0, 2026).unwrap().is_empty());
    }
}
