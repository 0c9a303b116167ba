//! `echo`: replies to every message with the message itself, byte for byte.
//!
//! The smallest useful actor: no state, no host calls. Used for round-trip
//! and throughput measurements.

use serde::{Deserialize, Serialize};
use warden_sdk::Actor;

#[derive(Serialize, Deserialize)]
struct Echo;

impl Actor for Echo {
    fn init(_config: &str) -> Result<Self, String> {
        Ok(Echo)
    }

    fn handle(&mut self, message: &[u8]) -> Result<Vec<u8>, String> {
        Ok(message.to_vec())
    }
}

warden_sdk::export_actor!(Echo);
