//! The readers of a model directory's small files (config.json, sentence_bert_config.json,
//! modules.json, the pooling config) on arbitrary text: an error, never a panic. The input is
//! the four files' texts separated by NUL bytes.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use themescope::model::files;

fuzz_target!(|data: &[u8]| {
    let mut parts = data.split(|&b| b == 0).map(String::from_utf8_lossy);
    let mut next = || parts.next().unwrap_or_default();
    if let Ok(config) = files::config(&next()) {
        assert!(config.hidden_size % config.num_attention_heads == 0);
    }
    let _ = files::max_seq_length(&next());
    if let Ok((pooling_dir, _)) = files::modules(&next()) {
        assert!(!Path::new(&pooling_dir).is_absolute());
    }
    let _ = files::pooling(&next());
});
