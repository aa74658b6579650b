//! Naming themes: 1–3-word phrases from each theme's own paragraphs, scored by class-based
//! TF-IDF against the other themes, then re-ranked by closeness to the theme's centroid with
//! maximal marginal relevance so the keywords say different things.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::OnceLock;

use ndarray::Array2;

/// Words that never open or close a phrase: NLTK's English list (stop-words crate) plus
/// reporting verbs and fillers common in news text.
fn stop_words() -> &'static HashSet<String> {
    static WORDS: OnceLock<HashSet<String>> = OnceLock::new();
    WORDS.get_or_init(|| {
        let mut words: HashSet<String> = stop_words::get(stop_words::LANGUAGE::English)
            .into_iter()
            .collect();
        for extra in [
            "said",
            "says",
            "say",
            "told",
            "also",
            "would",
            "could",
            "may",
            "might",
            "must",
            "shall",
            "one",
            "two",
            "however",
            "according",
            "earlier",
            "later",
            "whether",
            "within",
            "already",
            "still",
            "even",
            "us",
            "mr",
            "ms",
            "new",
            "well",
            "many",
            "much",
            "first",
            "last",
            "including",
            "like",
            "per",
            "since",
            "yesterday",
            "today",
            "tuesday",
            "wednesday",
            "monday",
            "thursday",
            "friday",
            "saturday",
            "sunday",
            "week",
            "day",
            "outside",
            "without",
            "among",
            "amid",
            "despite",
            "toward",
            "towards",
            "across",
            "along",
            "upon",
            "via",
            "beyond",
            "behind",
            "around",
            "near",
            "whose",
            "another",
            "several",
        ] {
            words.insert(extra.to_string());
        }
        words
    })
}

/// A phrase as it is counted (lower case) and as it is shown (its most common spelling).
#[derive(Debug, Clone, Default)]
struct PhraseStats {
    count: f64,
    spellings: BTreeMap<String, usize>,
    paragraphs: HashSet<usize>,
}

/// Words of a punctuation-free run, each in (lower, original) form; a number breaks the run.
fn word_runs(run: &str) -> Vec<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut current: Vec<(String, String)> = Vec::new();
    for raw in run.split(|c: char| c.is_whitespace() || c == '/') {
        let word = raw.trim_matches(|c: char| !c.is_alphanumeric());
        let possessive = word.strip_suffix("’s").or_else(|| word.strip_suffix("'s"));
        let word = possessive.unwrap_or(word);
        if word.is_empty() {
            continue;
        }
        if word.chars().all(|c| c.is_ascii_digit()) {
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
            continue;
        }
        current.push((word.to_lowercase(), word.to_string()));
        // "Ukraine's NATO membership" yields "NATO membership", not "Ukraine NATO".
        if possessive.is_some() {
            out.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// Word runs of a text, broken at punctuation so no phrase spans a comma or a sentence end.
fn phrase_runs(text: &str) -> Vec<Vec<(String, String)>> {
    text.split(|c: char| ",.;:!?()[]{}\"“”«»—–…|【】".contains(c))
        .flat_map(word_runs)
        .collect()
}

/// "agreed to the plan", "requiring it": a lower-case word ending in -ed or -ing opens a clause,
/// not a name for a theme.
fn opens_with_verb_form(word: &str) -> bool {
    word.chars().next().is_some_and(char::is_lowercase)
        && word.chars().count() > 4
        && (word.ends_with("ed") || word.ends_with("ing"))
}

/// The only stop words a phrase may have inside it: "seat at the table", "Ukraine without
/// Ukraine", "part of any talks"; not "believes that NATO".
const CONNECTORS: [&str; 16] = [
    "of", "the", "a", "an", "at", "in", "on", "for", "to", "and", "with", "without", "from",
    "about", "any", "against",
];

/// A phrase has 1–3 content words ...
const MAX_PHRASE_WORDS: usize = 3;
/// ... and at most this many words in all, so "seat at the table" is one.
const MAX_PHRASE_TOKENS: usize = 5;

/// Counts candidate phrases (1–3 content words, not opening or closing with a stop word) per
/// class.
struct Counts {
    per_class: Vec<HashMap<String, PhraseStats>>,
}

impl Counts {
    fn new(texts: &[&str], classes: &[Option<usize>], k: usize) -> Self {
        let stop = stop_words();
        let mut per_class: Vec<HashMap<String, PhraseStats>> = vec![HashMap::new(); k];
        for (row, (text, class)) in texts.iter().zip(classes).enumerate() {
            let Some(class) = *class else { continue };
            for run in phrase_runs(text) {
                for n in 1..=MAX_PHRASE_TOKENS {
                    for window in run.windows(n) {
                        let (first, last) = (&window[0], &window[n - 1]);
                        if stop.contains(&first.0)
                            || stop.contains(&last.0)
                            || first.0.chars().count() < 2
                            || last.0.chars().count() < 2
                            || (n > 1 && opens_with_verb_form(&first.1))
                        {
                            continue;
                        }
                        let content = window.iter().filter(|w| !stop.contains(&w.0)).count();
                        let inner = if n > 2 { &window[1..n - 1] } else { &[] };
                        let joined = inner
                            .iter()
                            .all(|w| !stop.contains(&w.0) || CONNECTORS.contains(&w.0.as_str()));
                        if content > MAX_PHRASE_WORDS || !joined {
                            continue;
                        }
                        let key = window
                            .iter()
                            .map(|w| w.0.as_str())
                            .collect::<Vec<_>>()
                            .join(" ");
                        let shown = window
                            .iter()
                            .map(|w| w.1.as_str())
                            .collect::<Vec<_>>()
                            .join(" ");
                        let stats = per_class[class].entry(key).or_default();
                        stats.count += 1.0;
                        *stats.spellings.entry(shown).or_default() += 1;
                        stats.paragraphs.insert(row);
                    }
                }
            }
        }
        Self { per_class }
    }

    /// Class-based TF-IDF (as in BERTopic): tf of the phrase in the class, times
    /// ln(1 + average words per class / frequency of the phrase over all classes).
    fn ctfidf(&self) -> Vec<Vec<(String, f64)>> {
        let mut total: HashMap<&str, f64> = HashMap::new();
        let mut class_words = Vec::new();
        for class in &self.per_class {
            let mut words = 0.0;
            for (phrase, stats) in class {
                *total.entry(phrase).or_default() += stats.count;
                words += stats.count;
            }
            class_words.push(words);
        }
        let average = class_words.iter().sum::<f64>() / class_words.len().max(1) as f64;
        self.per_class
            .iter()
            .zip(&class_words)
            .map(|(class, &words)| {
                let mut scored: Vec<(String, f64)> = class
                    .iter()
                    .map(|(phrase, stats)| {
                        let tf = stats.count / words.max(1.0);
                        let idf = (1.0 + average / total[phrase.as_str()]).ln();
                        (phrase.clone(), tf * idf)
                    })
                    .collect();
                scored.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
                scored
            })
            .collect()
    }

    fn spelling(&self, class: usize, phrase: &str) -> String {
        let stats = &self.per_class[class][phrase];
        // Most common spelling; ties to the lexically first for stable output.
        let best = stats
            .spellings
            .iter()
            .max_by(|a, b| a.1.cmp(b.1).then_with(|| b.0.cmp(a.0)))
            .map(|(s, _)| s.clone())
            .unwrap_or_else(|| phrase.to_string());
        best
    }

    fn paragraph_count(&self, class: usize, phrase: &str) -> usize {
        self.per_class[class][phrase].paragraphs.len()
    }
}

/// Candidate phrases for each class, best c-TF-IDF first, with their display spelling and
/// score; a phrase must occur in at least two of the class's paragraphs when it has four or more.
pub struct Candidates {
    pub per_class: Vec<Vec<Candidate>>,
}

#[derive(Debug, Clone)]
pub struct Candidate {
    pub key: String,
    pub shown: String,
    pub ctfidf: f64,
    /// Said in several of the theme's paragraphs (or the theme is small); one-off phrases from
    /// central paragraphs may name a theme but are not listed as its keywords.
    pub recurring: bool,
}

/// A theme's name and keywords.
#[derive(Debug, Clone, PartialEq)]
pub struct Naming {
    pub label: String,
    pub keywords: Vec<String>,
}

/// `central[c]`: rows of class c's most central paragraphs, whose phrases are candidates even if
/// they occur only there.
pub fn candidates(
    texts: &[&str],
    classes: &[Option<usize>],
    central: &[Vec<usize>],
    k: usize,
    per_class: usize,
) -> Candidates {
    let counts = Counts::new(texts, classes, k);
    let sizes = classes.iter().flatten().fold(vec![0usize; k], |mut s, &c| {
        s[c] += 1;
        s
    });
    let scored = counts.ctfidf();
    // A phrase in a third or more of all paragraphs, spread over at least half the themes, is
    // the corpus's subject, not a theme's.
    let total: usize = sizes.iter().sum();
    let mut spread: HashMap<&str, (usize, usize)> = HashMap::new();
    for class in &counts.per_class {
        for (phrase, stats) in class {
            let entry = spread.entry(phrase).or_default();
            entry.0 += stats.paragraphs.len();
            entry.1 += 1;
        }
    }
    let everywhere: HashSet<String> = spread
        .into_iter()
        .filter(|&(_, (df, themes))| k > 1 && total >= 12 && df * 3 >= total && themes * 2 >= k)
        .map(|(p, _)| p.to_string())
        .collect();
    let per_class = scored
        .into_iter()
        .enumerate()
        .map(|(class, list)| {
            let min_paragraphs = if sizes[class] >= 4 { 2 } else { 1 };
            let stats = &counts.per_class[class];
            let from_centre = |phrase: &str| {
                central[class]
                    .iter()
                    .any(|row| stats[phrase].paragraphs.contains(row))
            };
            let recurring = list
                .iter()
                .filter(|(phrase, _)| counts.paragraph_count(class, phrase) >= min_paragraphs)
                .take(per_class);
            // A phrase said once is worth naming a theme by only if it says something whole.
            let central_only = list
                .iter()
                .filter(|(phrase, _)| {
                    counts.paragraph_count(class, phrase) < min_paragraphs && from_centre(phrase)
                })
                .filter(|(phrase, _)| content_words(phrase) >= 2);
            recurring
                .map(|c| (c, true))
                .chain(central_only.map(|c| (c, false)))
                .filter(|((phrase, _), _)| !everywhere.contains(phrase))
                .map(|((key, ctfidf), recurring)| Candidate {
                    shown: counts.spelling(class, key),
                    key: key.clone(),
                    ctfidf: *ctfidf,
                    recurring,
                })
                .collect()
        })
        .collect();
    Candidates { per_class }
}

fn content_words(phrase: &str) -> usize {
    phrase
        .split(' ')
        .filter(|w| !stop_words().contains(*w))
        .count()
}

/// True when one phrase's words are a contiguous part of the other's.
fn overlaps(a: &str, b: &str) -> bool {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    format!(" {long} ").contains(&format!(" {short} "))
}

/// Picks up to `n` phrases by maximal marginal relevance. Relevance mixes the phrase's cosine to
/// the centroid with its c-TF-IDF (scaled to the class's best), so a label is both central to the
/// theme and particular to it; `diversity` weighs similarity to phrases already picked.
/// The label is the most relevant candidate, joined by the second keyword when that one recurs,
/// has two or more words and is at least [`SECOND_FACET`] as relevant: a theme with two strong
/// facets ("Ukraine membership / security guarantees") is named by both.
pub fn select(
    candidates: &[Candidate],
    phrase_vectors: Option<&Array2<f32>>,
    theme: usize,
    centroids: &Array2<f32>,
    n: usize,
    diversity: f32,
) -> Naming {
    let best = candidates
        .iter()
        .map(|c| c.ctfidf)
        .fold(0.0, f64::max)
        .max(1e-12);
    let relevance: Vec<f32> = candidates
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let distinct = (c.ctfidf / best) as f32;
            // Without embeddings, of phrases said equally often the longer is the more specific.
            let Some(v) = phrase_vectors else {
                return distinct * (1.0 + 0.05 * content_words(&c.key) as f32);
            };
            let own = v.row(i).dot(&centroids.row(theme));
            // How much closer the phrase is to this theme than to the nearest other one.
            let margin = centroids
                .rows()
                .into_iter()
                .enumerate()
                .filter(|&(t, _)| t != theme)
                .map(|(_, other)| own - v.row(i).dot(&other))
                .fold(f32::INFINITY, f32::min);
            let margin = if margin.is_finite() { margin } else { 0.0 };
            // Longer phrases sit closer to whole paragraphs; a name for a theme is short.
            let extra_words = content_words(&c.key).saturating_sub(2) as f32;
            own + margin + 0.3 * distinct - 0.1 * extra_words
        })
        .collect();
    let mut chosen: Vec<usize> = Vec::new();
    while chosen.len() < n {
        let next = (0..candidates.len())
            .filter(|i| !chosen.contains(i))
            .filter(|&i| chosen.is_empty() || candidates[i].recurring)
            .filter(|&i| {
                chosen
                    .iter()
                    .all(|&j| !overlaps(&candidates[i].key, &candidates[j].key))
            })
            .map(|i| {
                let redundancy = match phrase_vectors {
                    Some(v) => chosen
                        .iter()
                        .map(|&j| v.row(i).dot(&v.row(j)))
                        .fold(0.0f32, f32::max),
                    None => 0.0,
                };
                (i, (1.0 - diversity) * relevance[i] - diversity * redundancy)
            })
            .max_by(|a, b| a.1.total_cmp(&b.1).then_with(|| b.0.cmp(&a.0)));
        match next {
            Some((i, _)) => chosen.push(i),
            None => break,
        }
    }
    let keywords: Vec<String> = chosen
        .iter()
        .map(|&i| candidates[i].shown.clone())
        .collect();
    let mut label = keywords.first().cloned().unwrap_or_default();
    if let [first, second, ..] = chosen[..] {
        let strong = relevance[second] >= SECOND_FACET * relevance[first] && relevance[first] > 0.0;
        let first_words: HashSet<&str> = candidates[first].key.split(' ').collect();
        let distinct = candidates[second]
            .key
            .split(' ')
            .all(|w| !first_words.contains(w));
        if strong
            && distinct
            && candidates[second].recurring
            && content_words(&candidates[second].key) >= 2
        {
            label = format!("{label} / {}", candidates[second].shown);
        }
    }
    Naming { label, keywords }
}

/// How relevant a second facet must be, relative to the first, to join the label.
const SECOND_FACET: f32 = 0.55;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phrases_do_not_span_punctuation_or_start_with_stop_words() {
        let texts = [
            "Security guarantees, said Rutte.",
            "The security guarantees for Kyiv.",
        ];
        let c = candidates(&texts, &[Some(0), Some(0)], &[vec![]], 1, 50);
        let keys: Vec<&str> = c.per_class[0].iter().map(|c| c.key.as_str()).collect();
        assert!(keys.contains(&"security guarantees"));
        assert!(!keys
            .iter()
            .any(|k| k.contains("guarantees said") || k.starts_with("the ")));
        assert!(!keys.contains(&"guarantees rutte"), "{keys:?}");
    }

    #[test]
    fn ctfidf_favours_what_is_particular_to_a_class() {
        let texts = [
            "NATO security guarantees for Ukraine",
            "NATO security guarantees again",
            "NATO excluded from the peace talks",
            "NATO excluded from talks again",
        ];
        let classes = [Some(0), Some(0), Some(1), Some(1)];
        let c = candidates(&texts, &classes, &[vec![], vec![]], 2, 10);
        let score = |class: usize, key: &str| {
            c.per_class[class]
                .iter()
                .find(|c| c.key == key)
                .map(|c| c.ctfidf)
        };
        let nato = score(0, "nato").unwrap_or(0.0);
        assert!(score(0, "security guarantees").unwrap() > nato);
        assert!(score(1, "excluded").unwrap() > score(1, "nato").unwrap_or(0.0));
        assert!(
            score(0, "excluded").is_none(),
            "a class has only its own phrases"
        );
    }
}
