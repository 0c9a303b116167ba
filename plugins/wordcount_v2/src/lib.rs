//! `wordcount_v2`: the next version of `wordcount`, with a changed schema
//! for `count` — the reload-with-a-changed-schema tests swap one for the
//! other under the same plugin id.
//!
//! `count` takes `{"text": "...", "top": N, "min_length": M}`: `top` is
//! now 1 to 10 (default 3), and the new optional `min_length` (at least 1,
//! default 1) drops shorter words before counting. It returns the same
//! shape as version 1 plus `"version": 2`:
//!
//! ```json
//! {"words": 4, "unique": 3, "top": [{"word": "the", "count": 2}], "version": 2}
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use warden_sdk::serde_json::{self, Value, json};
use warden_sdk::{OpInfo, Operations};

struct WordCount;

/// Params of `count`; mirrors its JSON Schema in [`WordCount::describe`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CountParams {
    text: String,
    #[serde(default = "default_top")]
    top: u64,
    #[serde(default = "default_min_length")]
    min_length: usize,
}

fn default_top() -> u64 {
    3
}

fn default_min_length() -> usize {
    1
}

#[derive(Serialize)]
struct Counted<'a> {
    word: &'a str,
    count: u64,
}

#[derive(Serialize)]
struct CountResult<'a> {
    words: u64,
    unique: usize,
    top: Vec<Counted<'a>>,
    version: u32,
}

fn count(params: Value) -> Result<Value, String> {
    let params: CountParams =
        serde_json::from_value(params).map_err(|e| format!("count: invalid params: {e}"))?;
    if !(1..=10).contains(&params.top) {
        return Err(format!(
            "count: invalid params: `top` must be between 1 and 10, got {}",
            params.top
        ));
    }
    if params.min_length == 0 {
        return Err("count: invalid params: `min_length` must be at least 1".to_owned());
    }

    let text = params.text.to_lowercase();
    let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
    let mut words = 0;
    for word in text
        .split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .map(|w| w.trim_matches('\''))
        .filter(|w| w.chars().count() >= params.min_length)
    {
        *counts.entry(word).or_default() += 1;
        words += 1;
    }

    let mut ranked: Vec<Counted> = counts
        .iter()
        .map(|(&word, &count)| Counted { word, count })
        .collect();
    ranked.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.word.cmp(b.word)));
    ranked.truncate(usize::try_from(params.top).unwrap_or(usize::MAX));

    serde_json::to_value(CountResult {
        words,
        unique: counts.len(),
        top: ranked,
        version: 2,
    })
    .map_err(|e| format!("count: cannot serialise the result: {e}"))
}

impl Operations for WordCount {
    fn describe() -> Vec<OpInfo> {
        vec![OpInfo::new(
            "count",
            "Counts the words of at least min_length characters and lists the most frequent ones",
            json!({
                "type": "object",
                "properties": {
                    "text": {"type": "string"},
                    "top": {"type": "integer", "minimum": 1, "maximum": 10},
                    "min_length": {"type": "integer", "minimum": 1}
                },
                "required": ["text"],
                "additionalProperties": false
            }),
        )]
    }

    fn execute(name: &str, params: Value) -> Result<Value, String> {
        match name {
            "count" => count(params),
            _ => Err(format!("unknown operation: {name}")),
        }
    }
}

warden_sdk::export_operations!(WordCount);
