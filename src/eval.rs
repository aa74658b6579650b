//! Eval: load public benchmark sets (STS pairs, BEIR retrieval, labelled clustering sets) and
//! compute their published metrics on our vectors.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};

use ndarray::{Array2, ArrayView2, Axis};
use serde::Deserialize;

use crate::embed::EmbedStats;
use crate::themes::guided::GuideBars;
use crate::themes::passages::Passages;
use crate::themes::Guide;
use crate::themes::{plain_kmeans, ThemeCount, ThemeModel, ThemeParams};
use crate::{Error, ParamGuard, Themescope};

/// Errors in reading an evaluation set.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Format {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{0}")]
    Empty(String),
}

fn read(path: &Path) -> Result<String, EvalError> {
    fs::read_to_string(path).map_err(|source| EvalError::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn jsonl<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Vec<T>, EvalError> {
    let text = read(path)?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        out.push(serde_json::from_str(line).map_err(|e| EvalError::Format {
            path: path.to_path_buf(),
            line: i + 1,
            message: e.to_string(),
        })?);
    }
    if out.is_empty() {
        return Err(EvalError::Empty(format!(
            "{} has no records",
            path.display()
        )));
    }
    Ok(out)
}

/// The metrics, written out and tested against hand-computed cases.
pub mod metrics {
    use std::collections::HashSet;

    use std::collections::HashMap;

    /// Pearson correlation; 0 when either side is constant.
    pub fn pearson(x: &[f64], y: &[f64]) -> f64 {
        let n = x.len().min(y.len()) as f64;
        if n < 2.0 {
            return 0.0;
        }
        let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
        let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
        for (a, b) in x.iter().zip(y) {
            sxy += (a - mx) * (b - my);
            sxx += (a - mx) * (a - mx);
            syy += (b - my) * (b - my);
        }
        if sxx == 0.0 || syy == 0.0 {
            return 0.0;
        }
        sxy / (sxx * syy).sqrt()
    }

    /// 1-based ranks, ties sharing their average rank.
    pub fn ranks(values: &[f64]) -> Vec<f64> {
        let mut order: Vec<usize> = (0..values.len()).collect();
        order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
        let mut out = vec![0.0; values.len()];
        let mut i = 0;
        while i < order.len() {
            let mut j = i;
            while j + 1 < order.len() && values[order[j + 1]] == values[order[i]] {
                j += 1;
            }
            let rank = (i + j) as f64 / 2.0 + 1.0;
            for &k in &order[i..=j] {
                out[k] = rank;
            }
            i = j + 1;
        }
        out
    }

    /// Spearman correlation: Pearson of the ranks.
    pub fn spearman(x: &[f64], y: &[f64]) -> f64 {
        pearson(&ranks(x), &ranks(y))
    }

    /// nDCG@k with linear gain (as trec_eval's ndcg_cut, which MTEB uses): `ranked` is the
    /// retrieved document ids best first, `relevance` the judged ones.
    pub fn ndcg_at_k(ranked: &[&str], relevance: &HashMap<String, f64>, k: usize) -> f64 {
        let dcg: f64 = ranked
            .iter()
            .take(k)
            .enumerate()
            .map(|(i, id)| relevance.get(*id).copied().unwrap_or(0.0) / (i as f64 + 2.0).log2())
            .sum();
        let mut ideal: Vec<f64> = relevance.values().copied().filter(|&r| r > 0.0).collect();
        ideal.sort_by(|a, b| b.total_cmp(a));
        let idcg: f64 = ideal
            .iter()
            .take(k)
            .enumerate()
            .map(|(i, r)| r / (i as f64 + 2.0).log2())
            .sum();
        if idcg == 0.0 {
            0.0
        } else {
            dcg / idcg
        }
    }

    /// Share of the relevant documents found in the top k.
    pub fn recall_at_k(ranked: &[&str], relevance: &HashMap<String, f64>, k: usize) -> f64 {
        let relevant = relevance.values().filter(|&&r| r > 0.0).count();
        if relevant == 0 {
            return 0.0;
        }
        let found = ranked
            .iter()
            .take(k)
            .filter(|id| relevance.get(**id).is_some_and(|&r| r > 0.0))
            .count();
        found as f64 / relevant as f64
    }

    /// 1 / rank of the first relevant document in the top k, else 0.
    pub fn mrr_at_k(ranked: &[&str], relevance: &HashMap<String, f64>, k: usize) -> f64 {
        ranked
            .iter()
            .take(k)
            .position(|id| relevance.get(*id).is_some_and(|&r| r > 0.0))
            .map_or(0.0, |i| 1.0 / (i as f64 + 1.0))
    }

    /// Counts of (class, cluster) pairs, of classes and of clusters.
    struct Contingency {
        joint: HashMap<(usize, usize), f64>,
        classes: HashMap<usize, f64>,
        clusters: HashMap<usize, f64>,
    }

    fn contingency(truth: &[usize], predicted: &[usize]) -> Contingency {
        let mut table = Contingency {
            joint: HashMap::new(),
            classes: HashMap::new(),
            clusters: HashMap::new(),
        };
        for (&t, &p) in truth.iter().zip(predicted) {
            *table.joint.entry((t, p)).or_insert(0.0) += 1.0;
            *table.classes.entry(t).or_insert(0.0) += 1.0;
            *table.clusters.entry(p).or_insert(0.0) += 1.0;
        }
        table
    }

    fn entropy(counts: &HashMap<usize, f64>, n: f64) -> f64 {
        counts
            .values()
            .filter(|&&c| c > 0.0)
            .map(|&c| -(c / n) * (c / n).ln())
            .sum()
    }

    /// Topic coherence as NPMI over document co-occurrence: for each topic, the mean over pairs
    /// of its first `top_n` words of log(P(a,b) / P(a)P(b)) / −log P(a,b), where P is the share
    /// of `documents` (each a set of words) holding the word(s); a pair never seen together
    /// scores −1, a pair in every document 1. The mean over topics with two words or more.
    pub fn npmi(topics: &[Vec<String>], documents: &[HashSet<String>], top_n: usize) -> f64 {
        let n = documents.len().max(1) as f64;
        let share = |words: &[&str]| {
            documents
                .iter()
                .filter(|d| words.iter().all(|w| d.contains(*w)))
                .count() as f64
                / n
        };
        let mut per_topic = Vec::new();
        for topic in topics {
            let words: Vec<&str> = topic.iter().take(top_n).map(String::as_str).collect();
            let mut sum = 0.0;
            let mut pairs = 0usize;
            for i in 0..words.len() {
                for j in i + 1..words.len() {
                    let joint = share(&[words[i], words[j]]);
                    sum += if joint == 0.0 {
                        -1.0
                    } else if joint >= 1.0 {
                        1.0
                    } else {
                        (joint / (share(&[words[i]]) * share(&[words[j]]))).ln() / -joint.ln()
                    };
                    pairs += 1;
                }
            }
            if pairs > 0 {
                per_topic.push(sum / pairs as f64);
            }
        }
        per_topic.iter().sum::<f64>() / per_topic.len().max(1) as f64
    }

    /// Topic diversity (Dieng et al.): the share of unique words among all topics' first
    /// `top_n` words.
    pub fn topic_diversity(topics: &[Vec<String>], top_n: usize) -> f64 {
        let all: Vec<&String> = topics.iter().flat_map(|t| t.iter().take(top_n)).collect();
        let unique: HashSet<&String> = all.iter().copied().collect();
        unique.len() as f64 / all.len().max(1) as f64
    }

    /// V-measure (β = 1): the harmonic mean of homogeneity and completeness.
    pub fn v_measure(truth: &[usize], predicted: &[usize]) -> f64 {
        let n = truth.len() as f64;
        if n == 0.0 {
            return 0.0;
        }
        let Contingency {
            joint,
            classes,
            clusters,
        } = contingency(truth, predicted);
        let (h_c, h_k) = (entropy(&classes, n), entropy(&clusters, n));
        let mut h_c_given_k = 0.0;
        let mut h_k_given_c = 0.0;
        for (&(t, p), &count) in &joint {
            h_c_given_k -= (count / n) * (count / clusters[&p]).ln();
            h_k_given_c -= (count / n) * (count / classes[&t]).ln();
        }
        let homogeneity = if h_c == 0.0 {
            1.0
        } else {
            1.0 - h_c_given_k / h_c
        };
        let completeness = if h_k == 0.0 {
            1.0
        } else {
            1.0 - h_k_given_c / h_k
        };
        if homogeneity + completeness == 0.0 {
            0.0
        } else {
            2.0 * homogeneity * completeness / (homogeneity + completeness)
        }
    }

    /// Adjusted Rand index (Hubert and Arabie).
    pub fn adjusted_rand(truth: &[usize], predicted: &[usize]) -> f64 {
        let pairs = |x: f64| x * (x - 1.0) / 2.0;
        let n = truth.len() as f64;
        let Contingency {
            joint,
            classes: a,
            clusters: b,
        } = contingency(truth, predicted);
        let index: f64 = joint.values().map(|&c| pairs(c)).sum();
        let sum_a: f64 = a.values().map(|&c| pairs(c)).sum();
        let sum_b: f64 = b.values().map(|&c| pairs(c)).sum();
        let expected = sum_a * sum_b / pairs(n).max(1.0);
        let max = (sum_a + sum_b) / 2.0;
        if max == expected {
            1.0
        } else {
            (index - expected) / (max - expected)
        }
    }
}

/// One sentence pair with its human similarity score.
#[derive(Debug, Clone, Deserialize)]
pub struct StsPair {
    pub a: String,
    pub b: String,
    pub score: f64,
}

pub fn load_sts(path: &Path) -> Result<Vec<StsPair>, EvalError> {
    jsonl(path)
}

/// Spearman and Pearson of the cosine of each pair against the human scores.
#[derive(Debug, Clone, Copy)]
pub struct StsScores {
    pub spearman: f64,
    pub pearson: f64,
    pub n: usize,
}

/// `a` and `b`: unit vectors of the pairs' two sides, row by row.
pub fn score_sts(pairs: &[StsPair], a: ArrayView2<f32>, b: ArrayView2<f32>) -> StsScores {
    let cosines: Vec<f64> = a
        .rows()
        .into_iter()
        .zip(b.rows())
        .map(|(x, y)| f64::from(x.dot(&y)))
        .collect();
    let gold: Vec<f64> = pairs.iter().map(|p| p.score).collect();
    StsScores {
        spearman: metrics::spearman(&cosines, &gold),
        pearson: metrics::pearson(&cosines, &gold),
        n: pairs.len(),
    }
}

/// A retrieval set in the BEIR layout.
#[derive(Debug, Clone)]
pub struct RetrievalSet {
    pub doc_ids: Vec<String>,
    /// (title + " " + text).strip(), as MTEB embeds them.
    pub doc_texts: Vec<String>,
    pub query_ids: Vec<String>,
    pub query_texts: Vec<String>,
    /// query id → (document id → relevance)
    pub qrels: HashMap<String, HashMap<String, f64>>,
}

#[derive(Deserialize)]
struct BeirDoc {
    #[serde(rename = "_id")]
    id: String,
    #[serde(default)]
    title: String,
    text: String,
}

#[derive(Deserialize)]
struct BeirQuery {
    #[serde(rename = "_id")]
    id: String,
    text: String,
}

impl RetrievalSet {
    /// `corpus.jsonl`, `queries.jsonl` and `qrels.tsv` in `dir`, or other query and qrels files.
    /// Only queries with judgements are kept.
    pub fn load(
        dir: &Path,
        queries: Option<&Path>,
        qrels: Option<&Path>,
    ) -> Result<Self, EvalError> {
        let docs: Vec<BeirDoc> = jsonl(&dir.join("corpus.jsonl"))?;
        let qrels_path = qrels.map_or_else(|| dir.join("qrels.tsv"), Path::to_path_buf);
        let queries_path = queries.map_or_else(|| dir.join("queries.jsonl"), Path::to_path_buf);
        let mut judged: HashMap<String, HashMap<String, f64>> = HashMap::new();
        for (i, line) in read(&qrels_path)?.lines().enumerate() {
            let fields: Vec<&str> = line.split('\t').collect();
            if i == 0 && fields.first().is_some_and(|f| f.contains("query"))
                || line.trim().is_empty()
            {
                continue;
            }
            let [query, doc, score] = fields[..] else {
                return Err(EvalError::Format {
                    path: qrels_path.clone(),
                    line: i + 1,
                    message: "expected query-id, corpus-id and score separated by tabs".into(),
                });
            };
            let score: f64 = score.trim().parse().map_err(|_| EvalError::Format {
                path: qrels_path.clone(),
                line: i + 1,
                message: format!("score \"{score}\" is not a number"),
            })?;
            judged
                .entry(query.to_string())
                .or_default()
                .insert(doc.to_string(), score);
        }
        let queries: Vec<BeirQuery> = jsonl(&queries_path)?;
        let queries: Vec<BeirQuery> = queries
            .into_iter()
            .filter(|q| judged.contains_key(&q.id))
            .collect();
        if queries.is_empty() {
            return Err(EvalError::Empty(format!(
                "no query of {} has judgements in {}",
                queries_path.display(),
                qrels_path.display()
            )));
        }
        Ok(Self {
            doc_ids: docs.iter().map(|d| d.id.clone()).collect(),
            doc_texts: docs
                .iter()
                .map(|d| format!("{} {}", d.title, d.text).trim().to_string())
                .collect(),
            query_ids: queries.iter().map(|q| q.id.clone()).collect(),
            query_texts: queries.into_iter().map(|q| q.text).collect(),
            qrels: judged,
        })
    }
}

#[derive(Debug, Clone, Copy)]
pub struct RetrievalScores {
    pub ndcg_at_10: f64,
    pub recall_at_10: f64,
    pub mrr_at_10: f64,
    pub n: usize,
}

/// Exact cosine search of every query over every document; metrics averaged over queries.
pub fn score_retrieval(
    set: &RetrievalSet,
    docs: ArrayView2<f32>,
    queries: ArrayView2<f32>,
) -> RetrievalScores {
    let docs = docs.to_owned();
    let mut totals = (0.0, 0.0, 0.0);
    for (q, query) in queries.axis_iter(Axis(0)).enumerate() {
        let hits = crate::index::top_k(&docs, query.as_slice().expect("standard layout"), 10);
        let ranked: Vec<&str> = hits.iter().map(|h| set.doc_ids[h.row].as_str()).collect();
        let judged = &set.qrels[&set.query_ids[q]];
        totals.0 += metrics::ndcg_at_k(&ranked, judged, 10);
        totals.1 += metrics::recall_at_k(&ranked, judged, 10);
        totals.2 += metrics::mrr_at_k(&ranked, judged, 10);
    }
    let n = queries.nrows().max(1) as f64;
    RetrievalScores {
        ndcg_at_10: totals.0 / n,
        recall_at_10: totals.1 / n,
        mrr_at_10: totals.2 / n,
        n: queries.nrows(),
    }
}

/// Texts with class labels, for clustering.
#[derive(Debug, Clone)]
pub struct LabelledSet {
    pub texts: Vec<String>,
    /// Class of each text, numbered in order of first appearance.
    pub labels: Vec<usize>,
    pub classes: usize,
    /// Each class's label as the file writes it (a string as it is, a number in digits).
    pub names: Vec<String>,
}

#[derive(Deserialize)]
struct LabelledRecord {
    text: String,
    label: serde_json::Value,
}

impl LabelledSet {
    pub fn load(path: &Path) -> Result<Self, EvalError> {
        let records: Vec<LabelledRecord> = jsonl(path)?;
        let mut names: HashMap<String, usize> = HashMap::new();
        let mut order = Vec::new();
        let labels = records
            .iter()
            .map(|r| {
                let next = names.len();
                let name = match &r.label {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                *names.entry(name.clone()).or_insert_with(|| {
                    order.push(name);
                    next
                })
            })
            .collect();
        Ok(Self {
            texts: records.into_iter().map(|r| r.text).collect(),
            labels,
            classes: names.len(),
            names: order,
        })
    }
}

/// V-measure and adjusted Rand index of one clustering against the labels.
#[derive(Debug, Clone, Copy)]
pub struct ClusteringScores {
    pub v_measure: f64,
    pub ari: f64,
    pub k: usize,
}

pub fn score_clustering(truth: &[usize], predicted: &[usize]) -> ClusteringScores {
    ClusteringScores {
        v_measure: metrics::v_measure(truth, predicted),
        ari: metrics::adjusted_rand(truth, predicted),
        k: predicted.iter().max().map_or(0, |m| m + 1),
    }
}

/// Mean of several clusterings' scores (the baseline over seeds).
pub fn mean_scores(scores: &[ClusteringScores]) -> ClusteringScores {
    let n = scores.len().max(1) as f64;
    ClusteringScores {
        v_measure: scores.iter().map(|s| s.v_measure).sum::<f64>() / n,
        ari: scores.iter().map(|s| s.ari).sum::<f64>() / n,
        k: scores.first().map_or(0, |s| s.k),
    }
}

/// Unit vectors for the two sides of STS pairs, from one vector per unique text.
pub fn pair_sides(
    pairs: &[StsPair],
    unique: &[String],
    vectors: &Array2<f32>,
) -> (Array2<f32>, Array2<f32>) {
    let row: HashMap<&str, usize> = unique
        .iter()
        .enumerate()
        .map(|(i, t)| (t.as_str(), i))
        .collect();
    let a: Vec<usize> = pairs.iter().map(|p| row[p.a.as_str()]).collect();
    let b: Vec<usize> = pairs.iter().map(|p| row[p.b.as_str()]).collect();
    (vectors.select(Axis(0), &a), vectors.select(Axis(0), &b))
}

/// The distinct texts of STS pairs, in first-seen order.
pub fn unique_texts(pairs: &[StsPair]) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    pairs
        .iter()
        .flat_map(|p| [&p.a, &p.b])
        .filter(|t| seen.insert(t.as_str()))
        .cloned()
        .collect()
}

/// STS with `scope`'s model: every distinct sentence embedded once, then scored.
pub fn run_sts(scope: &Themescope, pairs: &[StsPair]) -> Result<StsScores, Error> {
    let unique = unique_texts(pairs);
    let vectors = scope.embed(&unique)?;
    let (a, b) = pair_sides(pairs, &unique, &vectors);
    Ok(score_sts(pairs, a.view(), b.view()))
}

/// Retrieval with `scope`'s model; also the embedding counts of the documents (how many were
/// longer than the model's window).
pub fn run_retrieval(
    scope: &Themescope,
    set: &RetrievalSet,
) -> Result<(RetrievalScores, EmbedStats), Error> {
    let docs = scope.embed_counted(&set.doc_texts)?;
    let queries = scope.embed(&set.query_texts)?;
    Ok((
        score_retrieval(set, docs.vectors.view(), queries.view()),
        docs.stats,
    ))
}

/// The clustering protocol of `themescope eval clustering`: the themes' grouping at the
/// asked k and at k auto, beside plain k-means (k-means++, mean over seeds 0..seeds).
#[derive(Debug, Clone, Copy)]
pub struct ClusteringReport {
    pub themes: ClusteringScores,
    pub auto: ClusteringScores,
    pub baseline: ClusteringScores,
    pub baseline_k: usize,
    pub seeds: u64,
}

/// Runs the clustering protocol; `count` None means the number of classes.
pub fn run_clustering(
    scope: &Themescope,
    set: &LabelledSet,
    count: Option<ThemeCount>,
    seeds: u64,
) -> Result<ClusteringReport, Error> {
    let vectors = scope.embed(&set.texts)?;
    let themes = |count| -> Result<ClusteringScores, Error> {
        let params = ThemeParams::new().count(count).check()?;
        let model = ThemeModel::fit(vectors.view(), &set.texts, &params, None)?;
        let predicted: Vec<usize> = model
            .row_themes(set.texts.len())
            .into_iter()
            .map(|t| t.unwrap_or(usize::MAX))
            .collect();
        Ok(score_clustering(&set.labels, &predicted))
    };
    let auto = themes(ThemeCount::Auto)?;
    let (own, baseline_k) = match count.unwrap_or(ThemeCount::Fixed(set.classes)) {
        ThemeCount::Auto => (auto, auto.k),
        ThemeCount::Fixed(k) => (themes(ThemeCount::Fixed(k))?, k),
    };
    let baseline: Vec<ClusteringScores> = (0..seeds)
        .map(|seed| {
            let labels = plain_kmeans(vectors.view(), baseline_k, seed)?;
            Ok(score_clustering(&set.labels, &labels))
        })
        .collect::<Result<_, Error>>()?;
    Ok(ClusteringReport {
        themes: own,
        auto,
        baseline: mean_scores(&baseline),
        baseline_k,
        seeds,
    })
}

/// How well one guided theme's name gathers the records of the label it names.
#[derive(Debug, Clone)]
pub struct GuidedScore {
    pub label: String,
    pub name: String,
    /// Records of the label (0 for a name of no label: every record it gathers is wrong).
    pub relevant: usize,
    pub gathered: usize,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// The name's cosine to its nearest record.
    pub nearest: f32,
}

/// Guided themes on a labelled set: each name's scores under the bars asked for, and the mean
/// F1 of the names of labels at each member bar of a sweep (the name bar held).
#[derive(Debug, Clone)]
pub struct GuidedReport {
    pub bars: GuideBars,
    pub scores: Vec<GuidedScore>,
    pub sweep: Vec<(f32, f64)>,
}

/// Member bars the guided sweep compares.
pub const GUIDED_SWEEP: [f32; 9] = [0.0, 0.1, 0.2, 0.3, 0.4, 0.45, 0.5, 0.55, 0.6];

/// Runs guided themes named by `names` ((label, name) pairs; a label the set lacks stands for
/// none) on `set`, and scores each against its label's records.
pub fn run_guided(
    scope: &Themescope,
    set: &LabelledSet,
    names: &[(String, String)],
    bars: GuideBars,
) -> Result<GuidedReport, Error> {
    let vectors = crate::themes::PhraseEmbedder::embed_phrases(scope, &set.texts)?;
    let phrases: Vec<String> = names.iter().map(|(_, n)| n.clone()).collect();
    let name_vectors = scope.embed(&phrases)?;
    let class_of: Vec<Option<usize>> = names
        .iter()
        .map(|(label, _)| set.names.iter().position(|n| n == label))
        .collect();
    let params = ThemeParams::new().names(phrases.clone()).check()?;
    let passages = Passages::of(&set.texts, vectors.ncols(), |p| {
        crate::themes::PhraseEmbedder::embed_phrases(scope, p)
    })?;
    let guide = Guide::new(vectors.view(), passages, name_vectors.view(), &params)?;
    let score = |bars: GuideBars| -> Result<Vec<GuidedScore>, Error> {
        let gathered = guide.clone().with_bars(bars).gather(None);
        Ok(names
            .iter()
            .enumerate()
            .map(|(j, (label, name))| {
                let members = &gathered.members[j];
                let relevant =
                    class_of[j].map_or(0, |c| set.labels.iter().filter(|&&l| l == c).count());
                let hits = class_of[j].map_or(0, |c| {
                    members.iter().filter(|m| set.labels[m.row] == c).count()
                });
                let precision = if members.is_empty() {
                    0.0
                } else {
                    hits as f64 / members.len() as f64
                };
                let recall = if relevant == 0 {
                    0.0
                } else {
                    hits as f64 / relevant as f64
                };
                let f1 = if precision + recall == 0.0 {
                    0.0
                } else {
                    2.0 * precision * recall / (precision + recall)
                };
                GuidedScore {
                    label: label.clone(),
                    name: name.clone(),
                    relevant,
                    gathered: members.len(),
                    precision,
                    recall,
                    f1,
                    nearest: gathered.best[j],
                }
            })
            .collect())
    };
    let sweep = GUIDED_SWEEP
        .iter()
        .map(|&member| {
            let scores = score(GuideBars { member, ..bars })?;
            let labelled: Vec<f64> = scores
                .iter()
                .filter(|s| s.relevant > 0)
                .map(|s| s.f1)
                .collect();
            Ok((
                member,
                labelled.iter().sum::<f64>() / labelled.len().max(1) as f64,
            ))
        })
        .collect::<Result<_, Error>>()?;
    Ok(GuidedReport {
        bars,
        scores: score(bars)?,
        sweep,
    })
}

/// Texts with optional class labels, for `eval topics`.
#[derive(Debug, Clone)]
pub struct TopicSet {
    pub texts: Vec<String>,
    /// Class of each text when every record has a "label".
    pub labels: Option<Vec<usize>>,
    /// The classes there are, when every record has a label.
    pub classes: usize,
    /// The group of each text's class in its label's hierarchy (what comes before the first
    /// dot: `comp.graphics` → `comp`), when the labels have one.
    pub hierarchy: Option<Vec<usize>>,
}

#[derive(Deserialize)]
struct TopicRecord {
    text: String,
    #[serde(default)]
    label: Option<serde_json::Value>,
}

impl TopicSet {
    pub fn load(path: &Path) -> Result<Self, EvalError> {
        let records: Vec<TopicRecord> = jsonl(path)?;
        let name = |l: &serde_json::Value| l.as_str().map_or_else(|| l.to_string(), str::to_owned);
        let number = |names: &mut HashMap<String, usize>, key: String| {
            let next = names.len();
            *names.entry(key).or_insert(next)
        };
        let mut names: HashMap<String, usize> = HashMap::new();
        let labels: Option<Vec<usize>> = records
            .iter()
            .map(|r| r.label.as_ref().map(|l| number(&mut names, name(l))))
            .collect();
        let mut parents: HashMap<String, usize> = HashMap::new();
        let hierarchy: Option<Vec<usize>> = records
            .iter()
            .map(|r| {
                let label = name(r.label.as_ref()?);
                let parent = label.split_once('.')?.0.to_string();
                Some(number(&mut parents, parent))
            })
            .collect();
        let classes = labels.as_ref().map_or(0, |_| names.len());
        let hierarchy = hierarchy.filter(|_| parents.len() < classes);
        Ok(Self {
            texts: records.into_iter().map(|r| r.text).collect(),
            labels,
            classes,
            hierarchy,
        })
    }
}

/// Topic-model measures of one level of the theme tree.
#[derive(Debug, Clone)]
pub struct TopicScores {
    pub themes: usize,
    /// Each theme's bootstrap stability, in the level's order.
    pub stability: Vec<f32>,
    /// NPMI of each theme's top 10 words, over document co-occurrence in the set.
    pub npmi: f64,
    /// Unique share of the themes' top 25 words.
    pub diversity: f64,
    pub outlier_share: f64,
    /// Against the labels, when the set has them (outliers count as one more group).
    pub clustering: Option<ClusteringScores>,
    /// Against the labels' hierarchy, when they have one (see [`TopicSet::hierarchy`]).
    pub hierarchy: Option<ClusteringScores>,
}

/// `eval topics` at both levels of the tree: the top level and the fine one (each theme's
/// sub-themes, or the theme itself where it is not split).
#[derive(Debug, Clone)]
pub struct TopicReport {
    pub top: TopicScores,
    pub fine: TopicScores,
}

/// Words per topic for coherence and for diversity, as in the BERTopic paper and OCTIS.
pub const COHERENCE_WORDS: usize = 10;
pub const DIVERSITY_WORDS: usize = 25;

/// Fits themes on the set's texts with `params` and measures both levels.
pub fn run_topics(
    scope: &Themescope,
    set: &TopicSet,
    params: &crate::ValidThemeParams,
) -> Result<TopicReport, Error> {
    let vectors = scope.embed(&set.texts)?;
    let model = ThemeModel::fit(vectors.view(), &set.texts, params, None)?;
    let documents: Vec<HashSet<String>> = set
        .texts
        .iter()
        .map(|t| crate::themes::words_of(t).collect())
        .collect();
    let n = set.texts.len();
    let top_words: Vec<Vec<String>> = model.themes.iter().map(|t| t.words.clone()).collect();
    let fine: Vec<&crate::themes::Theme> = model
        .themes
        .iter()
        .flat_map(|t| {
            if t.subthemes.is_empty() {
                vec![t]
            } else {
                t.subthemes.iter().collect()
            }
        })
        .collect();
    let fine_words: Vec<Vec<String>> = fine.iter().map(|t| t.words.clone()).collect();
    let labels_of = |groups: &[&crate::themes::Theme]| {
        let mut out = vec![groups.len(); n];
        for (g, theme) in groups.iter().enumerate() {
            for m in &theme.members {
                out[m.row] = g;
            }
        }
        out
    };
    let outlier_share = model.outliers.len() as f64 / n.max(1) as f64;
    let top_groups: Vec<&crate::themes::Theme> = model.themes.iter().collect();
    let score = |words: &[Vec<String>], groups: &[&crate::themes::Theme]| TopicScores {
        themes: groups.len(),
        stability: groups.iter().map(|t| t.stability).collect(),
        npmi: metrics::npmi(words, &documents, COHERENCE_WORDS),
        diversity: metrics::topic_diversity(words, DIVERSITY_WORDS),
        outlier_share,
        clustering: set
            .labels
            .as_ref()
            .map(|truth| score_clustering(truth, &labels_of(groups))),
        hierarchy: set
            .hierarchy
            .as_ref()
            .map(|truth| score_clustering(truth, &labels_of(groups))),
    };
    Ok(TopicReport {
        top: score(&top_words, &top_groups),
        fine: score(&fine_words, &fine),
    })
}

#[cfg(test)]
mod tests {
    use super::metrics::*;
    use std::collections::HashMap;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn correlations_by_hand() {
        assert!(close(pearson(&[1.0, 2.0, 3.0], &[2.0, 4.0, 6.0]), 1.0));
        assert!(close(pearson(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]), -1.0));
        // x = 1..5, y = 2,1,4,3,5: sxy = 8, sxx = syy = 10.
        assert!(close(
            pearson(&[1.0, 2.0, 3.0, 4.0, 5.0], &[2.0, 1.0, 4.0, 3.0, 5.0]),
            0.8
        ));
        assert_eq!(ranks(&[10.0, 20.0, 20.0, 5.0]), vec![2.0, 3.5, 3.5, 1.0]);
        // Monotone but not linear: Spearman 1.
        assert!(close(
            spearman(&[1.0, 2.0, 3.0, 4.0], &[1.0, 8.0, 27.0, 64.0]),
            1.0
        ));
    }

    #[test]
    fn retrieval_metrics_by_hand() {
        let rel: HashMap<String, f64> = [("a".to_string(), 1.0), ("b".to_string(), 1.0)].into();
        let ranked = ["x", "a", "y", "b"];
        // DCG = 1/log2(3) + 1/log2(5); IDCG = 1 + 1/log2(3).
        let expected = (1.0 / 3f64.log2() + 1.0 / 5f64.log2()) / (1.0 + 1.0 / 3f64.log2());
        assert!(close(ndcg_at_k(&ranked, &rel, 10), expected));
        assert!(close(recall_at_k(&ranked, &rel, 10), 1.0));
        assert!(close(recall_at_k(&ranked, &rel, 2), 0.5));
        assert!(close(mrr_at_k(&ranked, &rel, 10), 0.5));
        assert!(close(mrr_at_k(&["x", "y"], &rel, 10), 0.0));
    }

    #[test]
    fn topic_measures_by_hand() {
        let doc = |words: &[&str]| -> std::collections::HashSet<String> {
            words.iter().map(|w| w.to_string()).collect()
        };
        let documents = [
            doc(&["a", "b"]),
            doc(&["a", "b"]),
            doc(&["a", "c"]),
            doc(&["d"]),
        ];
        let topic = |words: &[&str]| words.iter().map(|w| w.to_string()).collect::<Vec<_>>();
        // P(a) = 3/4, P(b) = 1/2, P(a,b) = 1/2: ln((1/2) / (3/8)) / −ln(1/2) = ln(4/3) / ln 2.
        let ab = (4.0f64 / 3.0).ln() / 2f64.ln();
        assert!(close(npmi(&[topic(&["a", "b"])], &documents, 10), ab));
        // b and c never meet: −1; the topic {a, b, c} averages its three pairs.
        // P(a,c) = 1/4, P(c) = 1/4: ln((1/4) / (3/16)) / ln 4.
        let ac = (4.0f64 / 3.0).ln() / 4f64.ln();
        let abc = (ab + ac - 1.0) / 3.0;
        assert!(close(npmi(&[topic(&["a", "b", "c"])], &documents, 10), abc));
        // Only the first top_n words count; topics are averaged.
        assert!(close(
            npmi(
                &[topic(&["a", "b", "c"]), topic(&["b", "c"])],
                &documents,
                2
            ),
            (ab - 1.0) / 2.0
        ));
        // Diversity: 5 distinct of 6 words.
        let topics = [topic(&["a", "b", "c"]), topic(&["c", "d", "e"])];
        assert!(close(topic_diversity(&topics, 25), 5.0 / 6.0));
        assert!(close(topic_diversity(&topics, 1), 1.0));
    }

    #[test]
    fn clustering_metrics_by_hand() {
        let truth = [0, 0, 1, 1];
        assert!(close(v_measure(&truth, &[1, 1, 0, 0]), 1.0));
        assert!(close(adjusted_rand(&truth, &[1, 1, 0, 0]), 1.0));
        // One cluster for all: homogeneity 0, so V-measure 0; ARI 0.
        assert!(close(v_measure(&truth, &[0, 0, 0, 0]), 0.0));
        assert!(close(adjusted_rand(&truth, &[0, 0, 0, 0]), 0.0));
        // truth [0,0,1,1] vs [0,1,0,1]: independent, ARI = (0 - 0.6667) / (2 - 0.6667) = -0.5.
        assert!(close(adjusted_rand(&truth, &[0, 1, 0, 1]), -0.5));
        // Values from scikit-learn's v_measure_score and adjusted_rand_score on the same labels.
        let v = v_measure(&[0, 0, 0, 1, 1, 1], &[0, 0, 1, 1, 2, 2]);
        assert!((v - 0.515_803_742_979_388_9).abs() < 1e-9, "{v}");
        let ari = adjusted_rand(&[0, 0, 0, 1, 1, 1], &[0, 0, 1, 1, 2, 2]);
        assert!((ari - 0.242_424_242_424_242_4).abs() < 1e-9, "{ari}");
    }
}
