//! `wrong_world`: a component that exports `warden:plugin/actor@0.1.0` but
//! does not fit the `actor-plugin` world: `handle` takes and returns a
//! `string`, and `snapshot` and `restore` are missing (see
//! `wit/wrong-world.wit`). The host must refuse it with an error naming the
//! missing and the mistyped functions.

use exports::warden::plugin::actor::Guest;

wit_bindgen::generate!({
    world: "wrong-world",
});

struct WrongWorld;

impl Guest for WrongWorld {
    fn init(_config: String) -> Result<(), String> {
        Ok(())
    }

    fn handle(message: String) -> String {
        message
    }
}

export!(WrongWorld);
