//! Guided themes: one theme per name a user gives, gathering the paragraphs nearer its name
//! (refined by the paragraphs it gathers) than any other name's, above a bar.

use ndarray::{Array2, ArrayView1, ArrayView2, Axis};

use super::passages::Passages;
use super::Member;

/// Rounds of pseudo-relevance feedback (Rocchio): a name alone is far from how articles say
/// it, so each round its vector becomes the name plus the centroid of the paragraphs nearest
/// the vector of the round before.
pub const FEEDBACK_ROUNDS: usize = 3;

/// Paragraphs whose centroid refines a name in each feedback round.
pub const FEEDBACK_PARAGRAPHS: usize = 10;

/// Rounds at most of gathering and re-anchoring (the assignment settles in 3–6 on the sets
/// measured).
pub const GATHER_ROUNDS: usize = 10;

/// How a name is refined and where its theme ends.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GuideBars {
    /// The least cosine of a name to its nearest paragraph for the name to gather anything: a
    /// name the corpus never speaks of is reported, not refined into whatever is nearest.
    pub name: f32,
    /// The least cosine of a paragraph to a name's vector for it to join that theme (beside
    /// being nearer it than any rival theme).
    pub member: f32,
}

/// The default bars, measured on the sample corpus, AG News and the 20 newsgroups (see
/// docs/themes.md, "Guided themes").
pub const BARS: GuideBars = GuideBars {
    name: 0.35,
    member: 0.1,
};

/// What the names gathered: per name its members (most central first), its refined unit
/// vector, and its nearest paragraph's cosine to the name itself.
#[derive(Debug, Clone)]
pub struct Gathered {
    pub members: Vec<Vec<Member>>,
    pub vectors: Array2<f32>,
    pub best: Vec<f32>,
}

impl Gathered {
    /// Each row's named theme, `None` for rows no name gathered.
    pub fn labels(&self, rows: usize) -> Vec<Option<usize>> {
        let mut labels = vec![None; rows];
        for (g, members) in self.members.iter().enumerate() {
            for m in members {
                labels[m.row] = Some(g);
            }
        }
        labels
    }
}

/// The paragraphs each name gathers, against the corpus' own themes.
///
/// `vectors` and `names` are unit rows; `passages` holds the passages of the paragraphs that
/// `rows` names (row for row; all paragraphs when `None`): a paragraph's score for a name is
/// its best passage's or its own cosine, whichever is higher, since a paragraph that says a
/// thing in one clause says it, however much else it says. Rival themes are scored on the whole
/// paragraph, as they were formed. `nearest` is each name's cosine to its nearest
/// paragraph (the name bar's measure); `open` labels each row with its theme when no names are
/// given. Each name's vector starts as the name refined by pseudo-relevance feedback; then,
/// for [`GATHER_ROUNDS`] at most, every row joins the name it is nearest if it reaches the
/// member bar and is nearer that name than any open theme's centroid but the name's own (the
/// open theme nearest the name before any row joins: the one it refines), and each name's vector becomes the name
/// plus its members' centroid (the name stays its anchor), each open centroid that of the rows
/// left to it.
pub fn gather(
    vectors: ArrayView2<f32>,
    passages: &Passages,
    rows: Option<&[usize]>,
    names: ArrayView2<f32>,
    nearest: &[f32],
    open: &[Option<usize>],
    bars: GuideBars,
) -> Gathered {
    let (n, g) = (vectors.nrows(), names.nrows());
    let open_k = open.iter().flatten().max().map_or(0, |m| m + 1);
    let live: Vec<bool> = nearest.iter().map(|&b| b >= bars.name).collect();
    let mut anchored = names.to_owned();
    let score = |anchored: &Array2<f32>| passages.best_scores(vectors, rows, anchored.view());
    for _ in 0..FEEDBACK_ROUNDS {
        let scores = score(&anchored);
        for j in 0..g {
            let top = nearest_rows(scores.column(j));
            let centroid = vectors.select(Axis(0), &top).sum_axis(Axis(0));
            anchored.row_mut(j).assign(&anchor(names.row(j), centroid));
        }
    }
    let mut joined: Vec<Option<usize>> = vec![None; n];
    // A name's own open theme (the one nearest its refined vector) is what it refines, not a
    // rival. It is chosen once, before any row joins: once a name has gathered most of its own
    // theme, what is left of that theme's centroid no longer says which theme it was.
    let whole = centroids_left(vectors, open, &joined, open_k);
    let own: Vec<Option<usize>> = (0..g)
        .map(|j| best_of(whole.dot(&anchored.row(j)).view()).map(|(t, _)| t))
        .collect();
    for _ in 0..GATHER_ROUNDS {
        let rivals = centroids_left(vectors, open, &joined, open_k);
        let named = score(&anchored);
        let other = vectors.dot(&rivals.t());
        let next: Vec<Option<usize>> = (0..n)
            .map(|row| {
                let (j, score) = best_of(named.row(row))?;
                let rival = other
                    .row(row)
                    .iter()
                    .enumerate()
                    .filter(|(t, _)| Some(*t) != own[j])
                    .map(|(_, &s)| s)
                    .fold(f32::NEG_INFINITY, f32::max);
                (live[j] && score >= bars.member && score > rival).then_some(j)
            })
            .collect();
        let settled = next == joined;
        joined = next;
        if settled {
            break;
        }
        for j in 0..g {
            let its: Vec<usize> = (0..n).filter(|&r| joined[r] == Some(j)).collect();
            if !its.is_empty() {
                let centroid = vectors.select(Axis(0), &its).sum_axis(Axis(0));
                anchored.row_mut(j).assign(&anchor(names.row(j), centroid));
            }
        }
    }
    let scores = score(&anchored);
    let mut members = vec![Vec::new(); g];
    for (row, j) in joined.iter().enumerate() {
        if let Some(j) = *j {
            members[j].push(Member {
                row,
                score: scores[[row, j]],
            });
        }
    }
    for group in &mut members {
        group.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.row.cmp(&b.row)));
    }
    Gathered {
        members,
        vectors: anchored,
        best: nearest.to_vec(),
    }
}

/// The name plus the unit centroid of the rows summed in `sum`, as a unit vector.
fn anchor(name: ArrayView1<f32>, mut sum: ndarray::Array1<f32>) -> ndarray::Array1<f32> {
    unit(sum.view_mut());
    let mut v = name.to_owned() + &sum;
    unit(v.view_mut());
    v
}

/// The unit centroid of each open theme's rows that no name has joined (zero when none is left).
fn centroids_left(
    vectors: ArrayView2<f32>,
    open: &[Option<usize>],
    joined: &[Option<usize>],
    k: usize,
) -> Array2<f32> {
    let mut centroids = Array2::<f32>::zeros((k, vectors.ncols()));
    for (row, (theme, name)) in open.iter().zip(joined).enumerate() {
        if let (Some(t), None) = (theme, name) {
            let mut c = centroids.row_mut(*t);
            c += &vectors.row(row);
        }
    }
    for row in centroids.rows_mut() {
        unit(row);
    }
    centroids
}

/// The highest score and its column (ties to the first).
fn best_of(scores: ArrayView1<f32>) -> Option<(usize, f32)> {
    scores
        .iter()
        .copied()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))
}

/// The [`FEEDBACK_PARAGRAPHS`] rows scoring highest in `column` (ties by row).
fn nearest_rows(column: ArrayView1<f32>) -> Vec<usize> {
    let mut rows: Vec<usize> = (0..column.len()).collect();
    rows.sort_by(|&a, &b| column[b].total_cmp(&column[a]).then(a.cmp(&b)));
    rows.truncate(FEEDBACK_PARAGRAPHS);
    rows
}

fn unit(mut v: ndarray::ArrayViewMut1<f32>) {
    let norm = v.dot(&v).sqrt().max(1e-12);
    v /= norm;
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    fn unit_rows(mut a: Array2<f32>) -> Array2<f32> {
        for row in a.rows_mut() {
            unit(row);
        }
        a
    }

    #[test]
    fn each_name_gathers_the_rows_nearest_it_and_a_far_name_nothing() {
        let vectors = unit_rows(array![
            [1.0, 0.1, 0.0],
            [0.9, 0.2, 0.1],
            [0.1, 1.0, 0.0],
            [0.2, 0.9, 0.1],
            [0.0, 0.1, 1.0],
        ]);
        let names = unit_rows(array![[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [-1.0, -1.0, -0.2]]);
        let nearest: Vec<f32> = vectors
            .dot(&names.t())
            .columns()
            .into_iter()
            .map(|c| c.iter().copied().fold(f32::NEG_INFINITY, f32::max))
            .collect();
        // Without names the rows would fall into two themes; the second is near no name.
        let open = [Some(0), Some(0), Some(0), Some(0), Some(1)];
        let none = Passages::none(5, 3);
        let gathered = gather(
            vectors.view(),
            &none,
            None,
            names.view(),
            &nearest,
            &open,
            BARS,
        );
        let rows = |j: usize| -> Vec<usize> {
            let mut r: Vec<usize> = gathered.members[j].iter().map(|m| m.row).collect();
            r.sort();
            r
        };
        assert_eq!(rows(0), vec![0, 1]);
        assert_eq!(rows(1), vec![2, 3]);
        assert!(rows(2).is_empty(), "a name near nothing gathers nothing");
        assert!(gathered.best[2] < BARS.name);
        assert_eq!(
            gathered.labels(5),
            vec![Some(0), Some(0), Some(1), Some(1), None]
        );
    }

    #[test]
    fn a_paragraph_joins_a_name_its_one_passage_says() {
        let vectors = unit_rows(array![
            [1.0, 0.1, 0.0],
            [0.9, 0.2, 0.1],
            [1.0, 0.0, 0.1],
            [0.9, 0.1, -0.1],
            [1.0, -0.1, 0.0],
            [0.0, 1.0, 0.5],
            [0.0, 1.0, -0.5],
            [0.1, 1.0, 0.0],
            // Mostly about the rival theme, with one clause on the name's subject.
            [0.3, 1.0, 0.6],
        ]);
        let names = unit_rows(array![[1.0, 0.0, 0.0]]);
        let nearest = [1.0];
        let open = [0, 0, 0, 0, 0, 1, 1, 1, 1].map(Some);
        let members = |passages: &Passages| -> Vec<usize> {
            let gathered = gather(
                vectors.view(),
                passages,
                None,
                names.view(),
                &nearest,
                &open,
                BARS,
            );
            let mut rows: Vec<usize> = gathered.members[0].iter().map(|m| m.row).collect();
            rows.sort();
            rows
        };
        assert_eq!(members(&Passages::none(9, 3)), vec![0, 1, 2, 3, 4]);
        let mut of_row = vec![0..0; 9];
        of_row[8] = 0..2;
        let passages = Passages {
            vectors: unit_rows(array![[0.0, 1.0, 0.6], [1.0, 0.05, 0.0]]),
            of_row,
        };
        assert_eq!(members(&passages), vec![0, 1, 2, 3, 4, 8]);
    }
}
