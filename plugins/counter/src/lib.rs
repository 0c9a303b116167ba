//! `counter`: the reference actor plugin (schema version 1).
//!
//! State: `{"count": u64}`. Messages and replies are UTF-8 text:
//!
//! | message | reply |
//! |---|---|
//! | `inc` | the new count, in decimal |
//! | `add N` | the new count after adding `N` |
//! | `get` | the count |
//! | `version` | `counter-v1` |
//! | `config` | the config string the child was started with |
//! | `send NAME TEXT` | `sent`, after `host::send(NAME, TEXT)`; the host's refusal as an error |
//! | `log TEXT` | `logged`, after writing `TEXT` to the host's log at info level |
//! | `crash` | none: panics, so the instance traps (supervision tests) |
//! | `sleep-loop` | none: spins forever (timeout and hang tests) |
//!
//! Anything else is an error `unknown command: <message>`.
//! `counter_v2` is the next version of this plugin; hot-reloading from one
//! to the other migrates the state.

use serde::{Deserialize, Serialize};
use warden_sdk::{Actor, host};

#[derive(Default, Serialize, Deserialize)]
struct Counter {
    count: u64,
}

impl Counter {
    fn add(&mut self, n: u64) -> Result<String, String> {
        self.count = self
            .count
            .checked_add(n)
            .ok_or_else(|| format!("count overflow: {} + {n}", self.count))?;
        Ok(self.count.to_string())
    }
}

impl Actor for Counter {
    fn init(_config: &str) -> Result<Self, String> {
        Ok(Counter::default())
    }

    fn handle(&mut self, message: &[u8]) -> Result<Vec<u8>, String> {
        let text =
            std::str::from_utf8(message).map_err(|e| format!("message is not UTF-8 text: {e}"))?;
        let (command, argument) = text.split_once(' ').unwrap_or((text, ""));
        let reply = match (command, argument) {
            ("inc", "") => self.add(1)?,
            ("add", n) => self.add(
                n.parse()
                    .map_err(|e| format!("add: bad number {n:?}: {e}"))?,
            )?,
            ("get", "") => self.count.to_string(),
            ("version", "") => "counter-v1".to_owned(),
            ("config", "") => warden_sdk::config(),
            ("send", rest) => {
                let (to, body) = rest.split_once(' ').unwrap_or((rest, ""));
                host::send(to, body.as_bytes())?;
                "sent".to_owned()
            }
            ("log", text) => {
                host::log(host::Level::Info, text);
                "logged".to_owned()
            }
            ("crash", "") => panic!("crash requested"),
            ("sleep-loop", "") => loop {
                std::hint::spin_loop();
            },
            _ => return Err(format!("unknown command: {text}")),
        };
        Ok(reply.into_bytes())
    }
}

warden_sdk::export_actor!(Counter);
