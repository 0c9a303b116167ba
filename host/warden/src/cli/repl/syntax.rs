//! The REPL's line syntax: a call of an export written WIT-like
//! (`add(1, 2)`, `greet({name: "Ada", age: 36})`) or as a name followed
//! by a JSON array of arguments (`add [1, 2]`), turned into the JSON
//! arguments `warden call` takes (the mapping in
//! `warden::component::values`).
//!
//! Values: numbers and strings as in JSON (the tokens are handed to
//! `serde_json`, so `1e3`, `"\u00e9"` mean what they mean there), `true`,
//! `false`, `null`; lists `[1, 2]`; records `{name: "Ada"}` (keys bare or
//! quoted, so a JSON object is one too); tuples `(1, "a")`; `none` and
//! `some(x)`; `ok(x)`, `err(x)`, a bare `ok`/`err`; an enum or variant case
//! by name (`red`, `circle(2.5)` → `{"circle": 2.5}`).
//!
//! The input is typed by a person and may be anything: every error is a
//! [`SyntaxError`] with the column it was found at, nesting is bounded
//! ([`MAX_DEPTH`]) so no line can exhaust the stack, and nothing panics.

use serde_json::{Map, Value};

/// How deeply values may nest: deeper is refused rather than recursed.
pub const MAX_DEPTH: usize = 64;

/// One call a line asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct CallLine {
    /// The export as typed (`handle`, `actor.handle`, `actor#handle`).
    pub function: String,
    /// One JSON value per argument.
    pub args: Vec<Value>,
}

/// Why a line is not a call, and where (a 0-based char column).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("column {}: {message}", column + 1)]
pub struct SyntaxError {
    pub column: usize,
    pub message: String,
}

/// Parses a call line: `name(v, …)`, `name [json…]` or a bare `name`.
pub fn parse_call(line: &str) -> Result<CallLine, SyntaxError> {
    let mut p = Parser::new(line);
    p.skip_ws();
    let function = p.function_name()?;
    p.skip_ws();
    let args = match p.peek() {
        None => Vec::new(),
        Some('(') => {
            p.bump();
            let args = p.sequence(')', 0)?;
            p.skip_ws();
            args
        }
        Some('[') => {
            let rest = &line[p.byte_pos()..];
            let args: Vec<Value> = serde_json::from_str(rest).map_err(|e| SyntaxError {
                column: p.pos + e.column().saturating_sub(1),
                message: format!("the arguments are not a JSON array: {e}"),
            })?;
            return Ok(CallLine { function, args });
        }
        Some(c) => return Err(p.error(format!("expected `(` or `[` after the name, found `{c}`"))),
    };
    if let Some(c) = p.peek() {
        return Err(p.error(format!("unexpected `{c}` after the call")));
    }
    Ok(CallLine { function, args })
}

/// Parses one value on its own (the whole text): what the tests hold
/// against serde_json.
#[cfg(test)]
pub fn parse_value(text: &str) -> Result<Value, SyntaxError> {
    let mut p = Parser::new(text);
    let value = p.value(0)?;
    p.skip_ws();
    match p.peek() {
        None => Ok(value),
        Some(c) => Err(p.error(format!("unexpected `{c}` after the value"))),
    }
}

struct Parser<'a> {
    text: &'a str,
    chars: Vec<char>,
    /// Index into `chars`.
    pos: usize,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str) -> Self {
        Self {
            text,
            chars: text.chars().collect(),
            pos: 0,
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += 1;
        Some(c)
    }

    fn byte_pos(&self) -> usize {
        self.chars[..self.pos].iter().map(|c| c.len_utf8()).sum()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn error(&self, message: String) -> SyntaxError {
        SyntaxError {
            column: self.pos,
            message,
        }
    }

    fn ident(&mut self) -> String {
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '-')
        {
            self.pos += 1;
        }
        self.chars[start..self.pos].iter().collect()
    }

    /// A function name may also hold an interface: `warden:plugin/actor@0.1.0#handle`.
    fn function_name(&mut self) -> Result<String, SyntaxError> {
        let start = self.pos;
        while self.peek().is_some_and(|c| {
            c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '#' | ':' | '/' | '@')
        }) {
            self.pos += 1;
        }
        if self.pos == start {
            return Err(self.error("expected the name of an export".into()));
        }
        Ok(self.chars[start..self.pos].iter().collect())
    }

    /// Values separated by commas up to `close` (consumed); a trailing
    /// comma is allowed.
    fn sequence(&mut self, close: char, depth: usize) -> Result<Vec<Value>, SyntaxError> {
        let mut items = Vec::new();
        loop {
            self.skip_ws();
            if self.peek() == Some(close) {
                self.bump();
                return Ok(items);
            }
            items.push(self.value(depth + 1)?);
            self.skip_ws();
            match self.bump() {
                Some(',') => {}
                Some(c) if c == close => return Ok(items),
                Some(c) => {
                    self.pos -= 1;
                    return Err(self.error(format!("expected `,` or `{close}`, found `{c}`")));
                }
                None => return Err(self.error(format!("missing `{close}`"))),
            }
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, SyntaxError> {
        if depth > MAX_DEPTH {
            return Err(self.error(format!("values nest deeper than {MAX_DEPTH}")));
        }
        self.skip_ws();
        match self.peek() {
            None => Err(self.error("expected a value, found the end of the line".into())),
            Some('"') => self.string().map(Value::String),
            Some('[') => {
                self.bump();
                self.sequence(']', depth).map(Value::Array)
            }
            Some('(') => {
                self.bump();
                self.sequence(')', depth).map(Value::Array)
            }
            Some('{') => {
                self.bump();
                self.record(depth)
            }
            Some(c) if c == '-' || c.is_ascii_digit() => self.number(),
            Some(c) if c.is_alphabetic() || c == '_' => self.word(depth),
            Some(c) => Err(self.error(format!("expected a value, found `{c}`"))),
        }
    }

    /// A JSON string token, decoded by serde_json.
    fn string(&mut self) -> Result<String, SyntaxError> {
        let start = self.pos;
        let start_byte = self.byte_pos();
        self.bump();
        loop {
            match self.bump() {
                None => {
                    self.pos = start;
                    return Err(self.error("the string has no closing `\"`".into()));
                }
                Some('\\') => {
                    self.bump();
                }
                Some('"') => break,
                Some(_) => {}
            }
        }
        let token = &self.text[start_byte..self.byte_pos()];
        serde_json::from_str(token).map_err(|e| SyntaxError {
            column: start,
            message: format!("bad string {token}: {e}"),
        })
    }

    /// A JSON number token, decoded by serde_json.
    fn number(&mut self) -> Result<Value, SyntaxError> {
        let start = self.pos;
        let start_byte = self.byte_pos();
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E'))
        {
            self.pos += 1;
        }
        let token = &self.text[start_byte..self.byte_pos()];
        match serde_json::from_str::<Value>(token) {
            Ok(n @ Value::Number(_)) => Ok(n),
            _ => Err(SyntaxError {
                column: start,
                message: format!("`{token}` is not a number"),
            }),
        }
    }

    /// `{key: value, …}`; the `{` is consumed.
    fn record(&mut self, depth: usize) -> Result<Value, SyntaxError> {
        let mut fields = Map::new();
        loop {
            self.skip_ws();
            let key = match self.peek() {
                Some('}') => {
                    self.bump();
                    return Ok(Value::Object(fields));
                }
                Some('"') => self.string()?,
                Some(c) if c.is_alphabetic() || c == '_' => self.ident(),
                Some(c) => return Err(self.error(format!("expected a field name, found `{c}`"))),
                None => return Err(self.error("missing `}`".into())),
            };
            self.skip_ws();
            if self.bump() != Some(':') {
                self.pos = self.pos.saturating_sub(1);
                return Err(self.error(format!("expected `:` after the field `{key}`")));
            }
            let value = self.value(depth + 1)?;
            fields.insert(key, value);
            self.skip_ws();
            match self.bump() {
                Some(',') => {}
                Some('}') => return Ok(Value::Object(fields)),
                Some(c) => {
                    self.pos -= 1;
                    return Err(self.error(format!("expected `,` or `}}`, found `{c}`")));
                }
                None => return Err(self.error("missing `}`".into())),
            }
        }
    }

    /// A keyword or a case name, with an optional `(payload)`.
    fn word(&mut self, depth: usize) -> Result<Value, SyntaxError> {
        let start = self.pos;
        let word = self.ident();
        let payload = if self.peek() == Some('(') {
            self.bump();
            let mut items = self.sequence(')', depth)?;
            if items.len() != 1 {
                self.pos = start;
                return Err(self.error(format!(
                    "`{word}(…)` takes one value, found {}",
                    items.len()
                )));
            }
            items.pop()
        } else {
            None
        };
        Ok(match (word.as_str(), payload) {
            ("true", None) => Value::Bool(true),
            ("false", None) => Value::Bool(false),
            ("null" | "none", None) => Value::Null,
            ("some", Some(inner)) => inner,
            ("true" | "false" | "null" | "none", Some(_)) => {
                self.pos = start;
                return Err(self.error(format!("`{word}` takes no value")));
            }
            ("some", None) => {
                self.pos = start;
                return Err(self.error("`some` needs a value: `some(x)`".into()));
            }
            (case, None) if case == "ok" || case == "err" => {
                Value::Object(Map::from_iter([(word, Value::Null)]))
            }
            (_, None) => Value::String(word),
            (_, Some(inner)) => Value::Object(Map::from_iter([(word, inner)])),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn call(line: &str) -> CallLine {
        parse_call(line).unwrap_or_else(|e| panic!("{line}: {e}"))
    }

    #[test]
    fn calls_in_wit_syntax_and_json() {
        assert_eq!(call("add(1, 2)").args, vec![json!(1), json!(2)]);
        assert_eq!(call("add [1, 2]").args, vec![json!(1), json!(2)]);
        assert_eq!(call("  get  ").args, Vec::<Value>::new());
        assert_eq!(call("get()").function, "get");
        assert_eq!(
            call(r#"greet({name: "Ada", age: 36})"#).args,
            vec![json!({"name": "Ada", "age": 36})]
        );
        assert_eq!(
            call(r#"actor.handle("inc")"#),
            CallLine {
                function: "actor.handle".into(),
                args: vec![json!("inc")]
            }
        );
        assert_eq!(
            call("warden:plugin/actor@0.1.0#handle(\"x\")").function,
            "warden:plugin/actor@0.1.0#handle"
        );
    }

    #[test]
    fn wit_values_map_to_the_json_the_value_mapping_reads() {
        let cases = [
            ("none", json!(null)),
            ("some(3)", json!(3)),
            ("some(none)", json!(null)),
            ("ok(1)", json!({"ok": 1})),
            ("err(\"no\")", json!({"err": "no"})),
            ("ok", json!({"ok": null})),
            ("red", json!("red")),
            ("circle(2.5)", json!({"circle": 2.5})),
            ("(1, \"a\", [])", json!([1, "a", []])),
            ("[some(1), none]", json!([1, null])),
            (
                "{a-b: -1e3, \"c d\": true,}",
                json!({"a-b": -1e3, "c d": true}),
            ),
            ("\"\\u00e9\\n\"", json!("é\n")),
            ("18446744073709551615", json!(18446744073709551615u64)),
        ];
        for (text, want) in cases {
            assert_eq!(parse_value(text), Ok(want), "{text}");
        }
    }

    #[test]
    fn bad_lines_say_what_and_where() {
        let cases = [
            ("", 0, "name of an export"),
            ("add(1, 2", 8, "missing `)`"),
            ("add(1 2)", 6, "expected `,` or `)`"),
            ("add(1) x", 7, "after the call"),
            ("f(\"abc)", 2, "no closing"),
            ("f(1.2.3)", 2, "not a number"),
            ("f({a 1})", 5, "expected `:`"),
            ("f(some)", 2, "needs a value"),
            ("f(some(1, 2))", 2, "takes one value"),
            ("f(none(1))", 2, "takes no value"),
            ("f [1,", 4, "not a JSON array"),
            ("f {}", 2, "expected `(` or `[`"),
            ("f(@)", 2, "expected a value"),
        ];
        for (line, column, message) in cases {
            let err = parse_call(line).expect_err(line);
            assert!(err.message.contains(message), "{line}: {err}");
            assert_eq!(err.column, column, "{line}: {err}");
        }
    }

    #[test]
    fn deep_nesting_is_refused_not_recursed() {
        let deep = format!("f({}{})", "[".repeat(100_000), "]".repeat(100_000));
        let err = parse_call(&deep).unwrap_err();
        assert!(err.message.contains("nest deeper"), "{err}");
        let ok = format!(
            "f({}{})",
            "[".repeat(MAX_DEPTH - 1),
            "]".repeat(MAX_DEPTH - 1)
        );
        assert!(parse_call(&ok).is_ok());
    }

    /// A small deterministic generator (xorshift), so failures replay.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    fn random_json(rng: &mut Rng, depth: u32) -> Value {
        let leaf = depth >= 4;
        match rng.below(if leaf { 5 } else { 7 }) {
            0 => Value::Null,
            1 => Value::Bool(rng.below(2) == 0),
            2 => match rng.below(3) {
                0 => json!(rng.next()),
                1 => json!(-(rng.below(1 << 40) as i64)),
                _ => json!((rng.next() as f64) / 7.0 * if rng.below(2) == 0 { 1.0 } else { -1e-9 }),
            },
            3 | 4 => {
                let pool = [
                    'a', 'Z', ' ', '"', '\\', '\n', '\u{7}', 'é', '😀', ':', ',', '(',
                ];
                let len = rng.below(8);
                Value::String(
                    (0..len)
                        .map(|_| pool[rng.below(pool.len() as u64) as usize])
                        .collect(),
                )
            }
            5 => Value::Array(
                (0..rng.below(4))
                    .map(|_| random_json(rng, depth + 1))
                    .collect(),
            ),
            _ => Value::Object(
                (0..rng.below(4))
                    .map(|i| (format!("k{i}"), random_json(rng, depth + 1)))
                    .collect(),
            ),
        }
    }

    /// On the JSON subset the syntax is JSON: whatever serde_json writes
    /// (compact or pretty) parses to what serde_json reads from it.
    #[test]
    fn json_text_parses_as_serde_json_reads_it() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for _ in 0..3000 {
            let value = random_json(&mut rng, 0);
            for text in [
                serde_json::to_string(&value).unwrap(),
                serde_json::to_string_pretty(&value).unwrap(),
            ] {
                // serde_json's own reading, not `value`: its float parsing
                // does not round-trip every last digit.
                let theirs: Value = serde_json::from_str(&text).unwrap();
                assert_eq!(parse_value(&text), Ok(theirs.clone()), "{text}");
                let as_call = format!("f({text})");
                assert_eq!(call(&as_call).args, vec![theirs], "{as_call}");
            }
        }
    }

    /// Arbitrary lines (random bytes of the syntax's own alphabet, and
    /// mutations of good lines) never panic; whatever parses as a value
    /// and is valid JSON means what serde_json says.
    #[test]
    fn arbitrary_lines_never_panic() {
        let alphabet: Vec<char> = "abs()[]{}:,\"\\-+.eE0123456789 \t#nonesomeokerrtrue😀é"
            .chars()
            .collect();
        let mut rng = Rng(42);
        for _ in 0..20_000 {
            let len = rng.below(24);
            let line: String = (0..len)
                .map(|_| alphabet[rng.below(alphabet.len() as u64) as usize])
                .collect();
            let _ = parse_call(&line);
            if let (Ok(ours), Ok(theirs)) =
                (parse_value(&line), serde_json::from_str::<Value>(&line))
            {
                assert_eq!(ours, theirs, "{line}");
            }
        }
        let good = r#"greet({name: "Ada", tags: ["x", some(1)], r: ok((1, -2.5e3))})"#;
        let chars: Vec<char> = good.chars().collect();
        for cut in 0..=chars.len() {
            let prefix: String = chars[..cut].iter().collect();
            let _ = parse_call(&prefix);
            for _ in 0..8 {
                let mut mutated = chars.clone();
                let at = rng.below(mutated.len() as u64) as usize;
                mutated[at] = alphabet[rng.below(alphabet.len() as u64) as usize];
                let _ = parse_call(&mutated.iter().collect::<String>());
            }
        }
    }
}
