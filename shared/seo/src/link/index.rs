//! The candidate engine: an inverted index over the site's articles.
//!
//! # Terms and weights
//!
//! Each article contributes terms: the stemmed words of its focus keyphrase (weight
//! 3), keywords (2) and title (1), stop words left out; each multi-word keyphrase (3)
//! or keyword (2) as a whole; and its topic. A term's postings list the articles
//! holding it with their weight times the term's inverse document frequency
//! `ln(1 + n / df)`, so a rare shared term counts more than a common one; the topic's
//! postings carry a fixed bonus instead ([`TOPIC_BONUS`]).
//!
//! Each article also contributes phrases (its keyphrase, keywords and title n-grams of
//! 2–6 words that neither start nor end with a stop word and hold a word of the
//! keyphrase or keywords, so a title template's "Our Top Picks" is no anchor) to a
//! word trie; a phrase's
//! postings list the articles it belongs to with a role weight (keyphrase 4, keyword 2,
//! title n-gram 1) times the phrase's inverse document frequency.
//!
//! # Scoring one article
//!
//! The source's own terms are looked up and each posting adds `source weight ×
//! posting weight` to the article it names; then the source's body is read once
//! ([`crate::html`]) and every phrase of the trie found in its unprotected text (not in
//! headings, links, code, captions …) adds its postings' weights: the target's phrase
//! is in the source's words, so a link can be placed. Pairs that share nothing are
//! never looked at.
//!
//! # Bounded work
//!
//! Postings are kept in "neighbourhood" order (by topic, then key), and a list longer
//! than the cap (see [`MAX_POSTINGS_PER_TERM`]) is scanned only in a window of that many
//! entries around the source's own place in the order, so its topic-mates come first.
//! The work per article is therefore bounded by its terms and phrases times the cap,
//! whatever the site's size, like the keyword clustering's `max_postings`.
//! [`LinkIndex::candidates_all_pairs`] scores the same way against every article: the
//! reference the tests and the benchmark compare the index with (identical on a site
//! whose lists all fit the cap).

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap, HashSet};

use super::words::{self, FxBuild, PhraseTrie, MAX_PHRASE_WORDS};
use super::{Candidate, LinkDoc, LinkOptions};
use crate::html;

/// Most postings of one term or phrase scanned for one article (a longer list is read
/// in a window around the article's place in it); raised to four times
/// [`LinkOptions::max_candidates`] when that is larger.
pub const MAX_POSTINGS_PER_TERM: usize = 256;

/// What sharing the topic (the cluster) adds to a pair's relevance.
pub const TOPIC_BONUS: f64 = 10.0;

/// Term weights by where the word comes from.
const KEYPHRASE_WEIGHT: f64 = 3.0;
const KEYWORD_WEIGHT: f64 = 2.0;
const TITLE_WEIGHT: f64 = 1.0;

/// Phrase weights by role, for a target phrase found in the source's text.
const KEYPHRASE_FOUND: f64 = 4.0;
const KEYWORD_FOUND: f64 = 2.0;
const TITLE_FOUND: f64 = 1.0;

/// Shortest and longest title n-grams used as phrases.
const TITLE_NGRAM_MIN: usize = 2;
const TITLE_NGRAM_MAX: usize = 6;

/// One entry of a posting list.
#[derive(Debug, Clone, Copy)]
struct Posting {
    doc: u32,
    rank: u32,
    weight: f64,
}

/// A phrase of an article and how good an anchor it makes: keyphrase, then keywords
/// in their order, then title n-grams, longer first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct AnchorRank(u8, u32);

/// A phrase's posting.
#[derive(Debug, Clone, Copy)]
struct PhrasePosting {
    doc: u32,
    rank: u32,
    weight: f64,
}

/// One article's terms: `(term, own weight, weight × idf)`, by term id.
type DocTerms = Vec<(u32, f64, f64)>;

/// The inverted index over a site's articles.
#[derive(Debug, Clone)]
pub struct LinkIndex {
    docs: Vec<LinkDoc>,
    by_key: HashMap<String, u32>,
    ranks: Vec<u32>,
    doc_terms: Vec<DocTerms>,
    postings: Vec<Vec<Posting>>,
    trie: PhraseTrie,
    phrase_postings: Vec<Vec<PhrasePosting>>,
    /// Per article its phrases `(phrase, weight, anchor rank)`, by phrase id.
    doc_phrases: Vec<Vec<(u32, f64, AnchorRank)>>,
    cap: usize,
}

/// Candidates for one article and the work it took.
#[derive(Debug, Clone, PartialEq)]
pub struct CandidateScan {
    /// The ranked candidates.
    pub candidates: Vec<Candidate>,
    /// Posting entries read (for the all-pairs reference: articles compared), the
    /// measure that stays bounded per article as the site grows.
    pub postings_visited: usize,
}

/// What one source accumulates for one target.
#[derive(Debug, Default, Clone, Copy)]
struct Score {
    terms: f64,
    phrases: f64,
}

/// Scores by article number.
type ScoreMap = HashMap<u32, Score, FxBuild>;

/// Interns term strings while building.
#[derive(Default)]
struct Terms {
    ids: HashMap<String, u32>,
}

impl Terms {
    fn id(&mut self, term: String) -> u32 {
        let next = u32::try_from(self.ids.len()).unwrap_or(u32::MAX);
        *self.ids.entry(term).or_insert(next)
    }
}

/// Adds `weight` for `term`, keeping the largest weight a term gets from any field.
fn raise(terms: &mut BTreeMap<u32, f64>, term: u32, weight: f64) {
    let slot = terms.entry(term).or_insert(0.0);
    if weight > *slot {
        *slot = weight;
    }
}

/// The word terms (`w:` + stem) and, for several words, the phrase term (`p:` + stems)
/// of one field.
fn field_terms(text: &str, weight: f64, whole: bool, interner: &mut Terms, into: &mut BTreeMap<u32, f64>) {
    let stems: Vec<String> =
        words::phrase_words(text).into_iter().filter(|w| !words::is_stop_word(w)).map(|w| words::stem(&w)).collect();
    for s in &stems {
        raise(into, interner.id(format!("w:{s}")), weight);
    }
    if whole && stems.len() > 1 {
        raise(into, interner.id(format!("p:{}", stems.join(" "))), weight);
    }
}

/// A title's n-grams of 2–6 words inside one clause (no punctuation between the words)
/// that neither start nor end with a stop word, longer first.
fn title_ngrams(title: &str) -> Vec<Vec<String>> {
    let ranges = words::word_ranges(title);
    let lowered: Vec<String> = ranges.iter().map(|r| words::lower(&title[r.clone()]).into_owned()).collect();
    let mut clauses: Vec<Vec<String>> = Vec::new();
    for (i, word) in lowered.iter().enumerate() {
        let continues = i > 0 && words::joined_by_space(title, &ranges[i - 1], &ranges[i]);
        match clauses.last_mut() {
            Some(clause) if continues => clause.push(word.clone()),
            _ => clauses.push(vec![word.clone()]),
        }
    }
    let mut grams = Vec::new();
    for n in (TITLE_NGRAM_MIN..=TITLE_NGRAM_MAX.min(MAX_PHRASE_WORDS)).rev() {
        for clause in &clauses {
            for gram in clause.windows(n) {
                let edge_is_stop = gram.first().is_some_and(|w| words::is_stop_word(w))
                    || gram.last().is_some_and(|w| words::is_stop_word(w));
                if !edge_is_stop {
                    grams.push(gram.to_vec());
                }
            }
        }
    }
    grams
}

/// The entries of a posting list to scan for the article at `rank`: all of a short
/// list, else `cap` entries around the article's place in it.
fn window<T>(list: &[T], rank_of: impl Fn(&T) -> u32, rank: u32, cap: usize) -> &[T] {
    if list.len() <= cap {
        return list;
    }
    let at = list.partition_point(|e| rank_of(e) < rank);
    let start = at.saturating_sub(cap / 2).min(list.len() - cap);
    &list[start..start + cap]
}

impl LinkIndex {
    /// Indexes the site's articles (of several with one key, the first is kept).
    pub fn build(docs: Vec<LinkDoc>, options: &LinkOptions) -> Self {
        let mut by_key = HashMap::new();
        let docs: Vec<LinkDoc> = docs
            .into_iter()
            .filter(|d| {
                let next = u32::try_from(by_key.len()).unwrap_or(u32::MAX);
                by_key.insert(d.key.clone(), next).is_none()
            })
            .collect();
        let n = docs.len();
        let mut order: Vec<u32> = (0..u32::try_from(n).unwrap_or(u32::MAX)).collect();
        order.sort_by(|&a, &b| {
            let (a, b) = (&docs[a as usize], &docs[b as usize]);
            a.topic.cmp(&b.topic).then_with(|| a.key.cmp(&b.key))
        });
        let mut ranks = vec![0u32; n];
        for (rank, &doc) in order.iter().enumerate() {
            ranks[doc as usize] = u32::try_from(rank).unwrap_or(u32::MAX);
        }

        let mut interner = Terms::default();
        let mut raw_terms: Vec<BTreeMap<u32, f64>> = Vec::with_capacity(n);
        let mut topic_terms: Vec<Option<u32>> = Vec::with_capacity(n);
        let mut trie = PhraseTrie::new();
        let mut phrase_count = 0u32;
        let mut raw_phrases: Vec<BTreeMap<u32, (f64, AnchorRank)>> = Vec::with_capacity(n);
        for doc in &docs {
            let mut terms = BTreeMap::new();
            field_terms(&doc.focus_keyphrase, KEYPHRASE_WEIGHT, true, &mut interner, &mut terms);
            for keyword in &doc.keywords {
                field_terms(keyword, KEYWORD_WEIGHT, true, &mut interner, &mut terms);
            }
            field_terms(&doc.title, TITLE_WEIGHT, false, &mut interner, &mut terms);
            let topic = doc.topic.trim();
            topic_terms.push((!topic.is_empty()).then(|| interner.id(format!("t:{topic}"))));
            raw_terms.push(terms);

            let mut phrases: BTreeMap<u32, (f64, AnchorRank)> = BTreeMap::new();
            let mut add = |trie: &mut PhraseTrie, phrase: &[String], weight: f64, anchor: AnchorRank| {
                if phrase.is_empty() || phrase.len() > MAX_PHRASE_WORDS {
                    return;
                }
                let id = trie.insert(phrase, phrase_count);
                if id == phrase_count {
                    phrase_count += 1;
                }
                match phrases.get(&id) {
                    Some((_, held)) if *held <= anchor => {}
                    _ => {
                        phrases.insert(id, (weight, anchor));
                    }
                }
            };
            add(&mut trie, &words::phrase_words(&doc.focus_keyphrase), KEYPHRASE_FOUND, AnchorRank(0, 0));
            for (i, keyword) in doc.keywords.iter().enumerate() {
                let rank = AnchorRank(1, u32::try_from(i).unwrap_or(u32::MAX));
                add(&mut trie, &words::phrase_words(keyword), KEYWORD_FOUND, rank);
            }
            let topical: HashSet<String> = std::iter::once(&doc.focus_keyphrase)
                .chain(doc.keywords.iter())
                .flat_map(|p| words::phrase_words(p))
                .filter(|w| !words::is_stop_word(w))
                .collect();
            let grams = title_ngrams(&doc.title).into_iter().filter(|g| g.iter().any(|w| topical.contains(w)));
            for (i, gram) in grams.enumerate() {
                add(&mut trie, &gram, TITLE_FOUND, AnchorRank(2, u32::try_from(i).unwrap_or(u32::MAX)));
            }
            raw_phrases.push(phrases);
        }

        let mut df = vec![0usize; interner.ids.len()];
        for (terms, topic) in raw_terms.iter().zip(&topic_terms) {
            for &t in terms.keys().chain(topic.iter()) {
                df[t as usize] += 1;
            }
        }
        let idf = |df: usize| (1.0 + n as f64 / df.max(1) as f64).ln();
        let mut postings: Vec<Vec<Posting>> = vec![Vec::new(); interner.ids.len()];
        let mut doc_terms: Vec<DocTerms> = Vec::with_capacity(n);
        for (d, (terms, topic)) in raw_terms.into_iter().zip(topic_terms).enumerate() {
            let mut own: DocTerms = terms.into_iter().map(|(t, w)| (t, w, w * idf(df[t as usize]))).collect::<Vec<_>>();
            if let Some(t) = topic {
                own.push((t, 1.0, TOPIC_BONUS));
            }
            own.sort_by_key(|e| e.0);
            for &(t, _, weighted) in &own {
                postings[t as usize].push(Posting { doc: d as u32, rank: ranks[d], weight: weighted });
            }
            doc_terms.push(own);
        }

        let mut phrase_df = vec![0usize; phrase_count as usize];
        for phrases in &raw_phrases {
            for &p in phrases.keys() {
                phrase_df[p as usize] += 1;
            }
        }
        let mut phrase_postings: Vec<Vec<PhrasePosting>> = vec![Vec::new(); phrase_count as usize];
        let mut doc_phrases = Vec::with_capacity(n);
        for (d, phrases) in raw_phrases.into_iter().enumerate() {
            let own: Vec<(u32, f64, AnchorRank)> = phrases
                .into_iter()
                .map(|(p, (weight, anchor))| (p, weight * idf(phrase_df[p as usize]), anchor))
                .collect();
            for &(p, weight, _) in &own {
                phrase_postings[p as usize].push(PhrasePosting { doc: d as u32, rank: ranks[d], weight });
            }
            doc_phrases.push(own);
        }
        for list in &mut postings {
            list.sort_by_key(|p| p.rank);
        }
        for list in &mut phrase_postings {
            list.sort_by_key(|p| p.rank);
        }
        let cap = MAX_POSTINGS_PER_TERM.max(options.max_candidates.saturating_mul(4));
        Self { docs, by_key, ranks, doc_terms, postings, trie, phrase_postings, doc_phrases, cap }
    }

    /// The indexed articles, in the order given.
    pub fn docs(&self) -> &[LinkDoc] {
        &self.docs
    }

    /// The ranked candidates for the article with `key` (none for an unknown key).
    pub fn candidates(&self, key: &str, options: &LinkOptions) -> Vec<Candidate> {
        self.scan(key, options).candidates
    }

    /// [`Self::candidates`] with the number of postings read.
    pub fn scan(&self, key: &str, options: &LinkOptions) -> CandidateScan {
        let Some(&source) = self.by_key.get(key) else {
            return CandidateScan { candidates: Vec::new(), postings_visited: 0 };
        };
        let rank = self.ranks[source as usize];
        let mut visited = 0usize;
        let mut scores = ScoreMap::default();
        for &(term, own, _) in &self.doc_terms[source as usize] {
            let list = window(&self.postings[term as usize], |p| p.rank, rank, self.cap);
            visited += list.len();
            for posting in list {
                scores.entry(posting.doc).or_default().terms += own * posting.weight;
            }
        }
        let found = self.phrases_in_body(source);
        for &phrase in found.keys() {
            let list = window(&self.phrase_postings[phrase as usize], |p| p.rank, rank, self.cap);
            visited += list.len();
            for posting in list {
                scores.entry(posting.doc).or_default().phrases += posting.weight;
            }
        }
        CandidateScan { candidates: self.rank_candidates(source, scores, &found, options), postings_visited: visited }
    }

    /// The same scoring as [`Self::candidates`] against every other article, with no
    /// index: what a linker without one does, and the reference the index is measured
    /// against. `postings_visited` counts the articles compared.
    pub fn candidates_all_pairs(&self, key: &str, options: &LinkOptions) -> CandidateScan {
        let Some(&source) = self.by_key.get(key) else {
            return CandidateScan { candidates: Vec::new(), postings_visited: 0 };
        };
        let own = &self.doc_terms[source as usize];
        let found = self.phrases_in_body(source);
        let mut scores = ScoreMap::default();
        for (target, theirs) in self.doc_terms.iter().enumerate() {
            let mut score = Score::default();
            let (mut i, mut j) = (0, 0);
            while let (Some(a), Some(b)) = (own.get(i), theirs.get(j)) {
                match a.0.cmp(&b.0) {
                    Ordering::Less => i += 1,
                    Ordering::Greater => j += 1,
                    Ordering::Equal => {
                        score.terms += a.1 * b.2;
                        i += 1;
                        j += 1;
                    }
                }
            }
            let mut shares_phrase = false;
            for &(phrase, weight, _) in &self.doc_phrases[target] {
                if found.contains_key(&phrase) {
                    score.phrases += weight;
                    shares_phrase = true;
                }
            }
            if score.terms > 0.0 || shares_phrase {
                scores.insert(target as u32, score);
            }
        }
        let candidates = self.rank_candidates(source, scores, &found, options);
        CandidateScan { candidates, postings_visited: self.docs.len().saturating_sub(1) }
    }

    /// The phrases of the index found in the unprotected text of `source`'s body, each
    /// with its first occurrence as written (decoded).
    fn phrases_in_body(&self, source: u32) -> BTreeMap<u32, String> {
        let mut found = BTreeMap::new();
        let Some(doc) = self.docs.get(source as usize) else { return found };
        let parsed = html::parse(&doc.html);
        let texts = parsed.nodes.iter().filter_map(|n| match n {
            html::Node::Text { text, .. } => Some(text),
            _ => None,
        });
        for (run, text) in parsed.text_runs().into_iter().zip(texts) {
            if run.protected {
                continue;
            }
            self.trie.find_all(text, |phrase, range| {
                found.entry(phrase).or_insert_with(|| text[range].to_owned());
            });
        }
        found
    }

    /// Turns accumulated scores into the ranked, truncated candidate list: no self,
    /// no article at the source's URL, none without a URL; relevance first, then key.
    /// Only the kept candidates are sorted and get their anchors: the target's phrases
    /// found in the source, best first, as written in the source.
    fn rank_candidates(
        &self,
        source: u32,
        scores: ScoreMap,
        found: &BTreeMap<u32, String>,
        options: &LinkOptions,
    ) -> Vec<Candidate> {
        let own_url = self.docs[source as usize].url.trim();
        let mut ranked: Vec<(f64, u32)> = scores
            .into_iter()
            .filter(|(d, _)| *d != source)
            .filter(|(d, _)| {
                self.docs.get(*d as usize).is_some_and(|doc| {
                    let url = doc.url.trim();
                    !url.is_empty() && url != own_url
                })
            })
            .map(|(d, score)| (score.terms + score.phrases, d))
            .collect();
        let order = |a: &(f64, u32), b: &(f64, u32)| {
            b.0.total_cmp(&a.0).then_with(|| self.docs[a.1 as usize].key.cmp(&self.docs[b.1 as usize].key))
        };
        if options.max_candidates == 0 {
            return Vec::new();
        }
        if ranked.len() > options.max_candidates {
            ranked.select_nth_unstable_by(options.max_candidates - 1, order);
            ranked.truncate(options.max_candidates);
        }
        ranked.sort_by(order);
        ranked
            .into_iter()
            .map(|(relevance, d)| {
                let doc = &self.docs[d as usize];
                let mut phrases: Vec<(AnchorRank, &String)> = self.doc_phrases[d as usize]
                    .iter()
                    .filter_map(|(phrase, _, rank)| Some((*rank, found.get(phrase)?)))
                    .collect();
                // Distinct phrases have distinct words, so no anchor repeats.
                phrases.sort();
                let anchors = phrases.into_iter().map(|(_, text)| text.clone()).collect();
                Candidate { target: doc.key.clone(), url: doc.url.trim().to_owned(), relevance, anchors }
            })
            .collect()
    }
}
