//! `wordcount`: an operation plugin with one operation, `count`.
//!
//! `count` takes `{"text": "...", "top": N}` (`top` optional, 1 to 100,
//! default 3) and returns
//!
//! ```json
//! {"words": 9, "unique": 6, "top": [{"word": "the", "count": 3}, {"word": "a", "count": 2}]}
//! ```
//!
//! Words are runs of letters, digits and apostrophes, lowercased, with
//! apostrophes at either end trimmed (`don't` is one word, `'quoted'` is
//! `quoted`). `top` lists the `N` most frequent words, by count descending
//! then word ascending.

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
}

fn default_top() -> u64 {
    3
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
}

fn count(params: Value) -> Result<Value, String> {
    let params: CountParams =
        serde_json::from_value(params).map_err(|e| format!("count: invalid params: {e}"))?;
    if !(1..=100).contains(&params.top) {
        return Err(format!(
            "count: invalid params: `top` must be between 1 and 100, got {}",
            params.top
        ));
    }

    let text = params.text.to_lowercase();
    let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
    let mut words = 0;
    for word in text
        .split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .map(|w| w.trim_matches('\''))
        .filter(|w| !w.is_empty())
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
    })
    .map_err(|e| format!("count: cannot serialise the result: {e}"))
}

impl Operations for WordCount {
    fn describe() -> Vec<OpInfo> {
        vec![OpInfo::new(
            "count",
            "Counts the words of a text and lists the most frequent ones",
            json!({
                "type": "object",
                "properties": {
                    "text": {"type": "string"},
                    "top": {"type": "integer", "minimum": 1, "maximum": 100}
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
