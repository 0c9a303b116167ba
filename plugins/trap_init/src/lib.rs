//! `trap_init`: an actor whose start can be made to fail, for start-failure
//! tests.
//!
//! `init` depends on the child's config string:
//!
//! | config | `init` |
//! |---|---|
//! | `fail` | returns the error `refusing to start` |
//! | `trap` | panics (the instance traps) |
//! | anything else | succeeds |
//!
//! Once started it replies `ok` to every message.

use serde::{Deserialize, Serialize};
use warden_sdk::Actor;

#[derive(Serialize, Deserialize)]
struct TrapInit;

impl Actor for TrapInit {
    fn init(config: &str) -> Result<Self, String> {
        match config {
            "fail" => Err("refusing to start".to_owned()),
            "trap" => panic!("trap requested in init"),
            _ => Ok(TrapInit),
        }
    }

    fn handle(&mut self, _message: &[u8]) -> Result<Vec<u8>, String> {
        Ok(b"ok".to_vec())
    }
}

warden_sdk::export_actor!(TrapInit);
