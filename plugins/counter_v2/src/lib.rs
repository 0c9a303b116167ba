//! `counter_v2`: the next version of `counter`, showing a state migration.
//!
//! State: `{"count": u64, "incs": u64}`, schema version 2. `incs` counts the
//! `inc` and `add` commands handled since the state was created or migrated.
//! Hot-reloading a `counter` child to this plugin restores its snapshot
//! through [`Actor::migrate`]: version 1's `count` is kept and `incs` starts
//! at 0. Snapshots of any other version are refused, so the reload fails
//! and the old version keeps serving.
//!
//! | message | reply |
//! |---|---|
//! | `inc` | the new count, in decimal |
//! | `add N` | the new count after adding `N` |
//! | `get` | the count |
//! | `incs` | how many `inc`/`add` commands were handled |
//! | `version` | `counter-v2` |
//! | `config` | the config string the child was started with |
//! | `send NAME TEXT` | `sent`, after `host::send(NAME, TEXT)`; the host's refusal as an error |
//! | `crash` | none: panics, so the instance traps |
//! | `sleep-loop` | none: spins forever |
//!
//! Anything else is an error `unknown command: <message>`.

use serde::{Deserialize, Serialize};
use warden_sdk::serde_json::{self, Value};
use warden_sdk::{Actor, host};

#[derive(Default, Serialize, Deserialize)]
struct Counter {
    count: u64,
    incs: u64,
}

/// The state of `counter` (schema version 1).
#[derive(Deserialize)]
struct CounterV1 {
    count: u64,
}

impl Counter {
    fn add(&mut self, n: u64) -> Result<String, String> {
        self.count = self
            .count
            .checked_add(n)
            .ok_or_else(|| format!("count overflow: {} + {n}", self.count))?;
        self.incs += 1;
        Ok(self.count.to_string())
    }
}

impl Actor for Counter {
    const SCHEMA_VERSION: u32 = 2;

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
            ("incs", "") => self.incs.to_string(),
            ("version", "") => "counter-v2".to_owned(),
            ("config", "") => warden_sdk::config(),
            ("send", rest) => {
                let (to, body) = rest.split_once(' ').unwrap_or((rest, ""));
                host::send(to, body.as_bytes())?;
                "sent".to_owned()
            }
            ("crash", "") => panic!("crash requested"),
            ("sleep-loop", "") => loop {
                std::hint::spin_loop();
            },
            _ => return Err(format!("unknown command: {text}")),
        };
        Ok(reply.into_bytes())
    }

    fn migrate(from_version: u32, old_state: Value) -> Result<Self, String> {
        match from_version {
            1 => {
                let old: CounterV1 = serde_json::from_value(old_state)
                    .map_err(|e| format!("bad schema version 1 state: {e}"))?;
                Ok(Counter {
                    count: old.count,
                    incs: 0,
                })
            }
            _ => Err(format!(
                "cannot migrate state from schema version {from_version} to {}",
                Self::SCHEMA_VERSION
            )),
        }
    }
}

warden_sdk::export_actor!(Counter);
