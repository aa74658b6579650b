//! Writes a synthetic corpus for measuring the on-disk index at scale: `ROWS` unit vectors in
//! clusters (a float32 `.npy`) and its `embed`-style sidecar with made-up texts whose words
//! follow the clusters, so themes have something to name.
//!
//! ```sh
//! cargo run --release --example synthetic_index -- 1000000 /tmp/syn1m.npy
//! themescope index import /tmp/syn1m.npy --index /tmp/syn1m
//! ```
//!
//! Clusters: 2,000 centres in 50 topics (each centre is its topic's direction plus its own);
//! a row is its centre plus noise, scaled to unit length (cosine to its centre about 0.7, to its
//! nearest neighbours 0.4–0.6, as sentence embeddings of related paragraphs are). Seeded: the
//! same arguments give the same files, byte for byte.

use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};

use ndarray_npy::write_zeroed_npy;
use rand_xoshiro::rand_core::{RngCore, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

const DIM: usize = 384;
const TOPICS: usize = 50;
const CENTRES: usize = 2_000;
const SYLLABLES: [&str; 16] = [
    "ka", "lo", "mi", "ra", "te", "nu", "so", "vi", "da", "pe", "gu", "zo", "fi", "ba", "le", "to",
];

struct Draw(Xoshiro256PlusPlus);

impl Draw {
    fn uniform(&mut self) -> f32 {
        (self.0.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }
    fn signed(&mut self) -> f32 {
        self.uniform() * 2.0 - 1.0
    }
    fn below(&mut self, n: usize) -> usize {
        ((self.0.next_u64() as u128 * n as u128) >> 64) as usize
    }
    fn word(&mut self) -> String {
        (0..2 + self.below(2))
            .map(|_| SYLLABLES[self.below(SYLLABLES.len())])
            .collect()
    }
}

fn unit(mut v: Vec<f32>) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter_mut().for_each(|x| *x /= norm);
    v
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (rows, path) = match args.as_slice() {
        [_, rows, path] => (rows.parse::<usize>()?, std::path::PathBuf::from(path)),
        _ => return Err("usage: synthetic_index ROWS OUT.npy".into()),
    };
    let mut draw = Draw(Xoshiro256PlusPlus::seed_from_u64(2026));
    let topics: Vec<Vec<f32>> = (0..TOPICS)
        .map(|_| unit((0..DIM).map(|_| draw.signed()).collect()))
        .collect();
    let topic_words: Vec<Vec<String>> = (0..TOPICS)
        .map(|_| (0..12).map(|_| draw.word()).collect())
        .collect();
    let centres: Vec<(usize, Vec<f32>, Vec<String>)> = (0..CENTRES)
        .map(|c| {
            let topic = c % TOPICS;
            let own: Vec<f32> = (0..DIM).map(|_| draw.signed()).collect();
            let centre = unit(
                topics[topic]
                    .iter()
                    .zip(&own)
                    .map(|(t, o)| t * 0.06 + o * 0.04)
                    .collect(),
            );
            (topic, centre, (0..6).map(|_| draw.word()).collect())
        })
        .collect();
    let common: Vec<String> = (0..200).map(|_| draw.word()).collect();

    write_zeroed_npy::<f32, _>(&File::create(&path)?, (rows, DIM))?;
    let mut npy = File::options().write(true).open(&path)?;
    let data_start = npy.metadata()?.len() - (rows * DIM * 4) as u64;
    npy.seek(SeekFrom::Start(data_start))?;
    let mut npy = BufWriter::new(npy);
    let mut ids = BufWriter::new(File::create(path.with_extension("ids.jsonl"))?);
    for row in 0..rows {
        let (topic, centre, words) = &centres[draw.below(CENTRES)];
        let vector = unit(centre.iter().map(|c| c + 0.05 * draw.signed()).collect());
        for x in &vector {
            npy.write_all(&x.to_le_bytes())?;
        }
        let text: Vec<&str> = (0..14)
            .map(|i| match i % 3 {
                0 => words[draw.below(words.len())].as_str(),
                1 => topic_words[*topic][draw.below(12)].as_str(),
                _ => common[draw.below(common.len())].as_str(),
            })
            .collect();
        let record = serde_json::json!({
            "id": format!("syn-{row}"),
            "doc": format!("synthetic/topic-{topic:02}.txt"),
            "line": row + 1,
            "kind": "body",
            "text": text.join(" "),
        });
        writeln!(ids, "{record}")?;
    }
    npy.flush()?;
    ids.flush()?;
    Ok(())
}
