//! The host's config file: `config.reload`.
//!
//! The handler only maps params and errors: the reload itself (load,
//! plan, compile, apply, serialised) is the host's
//! [`Reconfigurer`](crate::host::Reconfigurer). A file at fault (invalid,
//! changing a setting that needs a restart, naming an unusable component)
//! is 422 `invalid_config` and changed nothing; a step of the apply that
//! failed is 500.

use serde::Deserialize;
use serde_json::{Value, json};

use super::{Context, add, parse, to_json};
use crate::host::ReconfigureError;
use crate::ops::{OpError, OpMeta, RegisterError, Registry};

const OP: &str = "config.reload";

pub(super) fn register(registry: &Registry, ctx: &Context) -> Result<(), RegisterError> {
    add(
        registry,
        ctx,
        OpMeta::new(
            OP,
            "Re-reads the host's config file, validates it completely and applies the \
             difference: children added, removed or changed (only a changed child restarts), \
             supervisors' flags, operation plugins. Answers the plan; with dry_run only plans",
        )
        .params(json!({
            "type": "object",
            "properties": {
                "dry_run": {"type": "boolean", "description": "Only plan (and check the file and every new component); change nothing (default false)"}
            },
            "additionalProperties": false
        }))
        .example(json!({"dry_run": true}))
        .result(plan_schema()),
        |ctx, params| async move { reload(&ctx, params).await },
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    #[serde(default)]
    dry_run: bool,
}

async fn reload(ctx: &Context, params: Value) -> Result<Value, OpError> {
    let params: Params = parse(OP, params)?;
    match ctx.reconfigure.reload(params.dry_run).await {
        Ok(plan) => to_json(OP, &plan),
        Err(err) => Err(reload_error(err)),
    }
}

/// The name the audit log gives a reload asked for by SIGHUP: not a
/// token's (a token name has no `:`), so it cannot be mistaken for one.
pub const SIGHUP_CALLER: &str = "signal:SIGHUP";

/// A config reload asked for by SIGHUP: applied like `config.reload`, and
/// recorded in the audit log as a call by [`SIGHUP_CALLER`] (whoever may
/// signal the host changes its config as surely as an admin token does).
/// Returns the plan's summary or the reason it was refused, for the log.
pub async fn reload_on_signal(
    reconfigure: &crate::host::Reconfigurer,
    registry: &crate::registry::Registry,
) -> Result<String, String> {
    let at_ms = warden_clock::unix_ms() as i64;
    let started = std::time::Instant::now();
    let (status, outcome, result) = match reconfigure.reload(false).await {
        Ok(plan) => (200, "ok".to_string(), Ok(plan.summary())),
        Err(err) => {
            let reason = err.to_string();
            let op_error = reload_error(err);
            (
                op_error.status_code(),
                op_error.kind().to_string(),
                Err(reason),
            )
        }
    };
    registry.record_audit(crate::registry::AuditRecord {
        at_ms,
        token: SIGHUP_CALLER.to_string(),
        op: OP.to_string(),
        params_sha256: None,
        status,
        outcome,
        duration_us: started.elapsed().as_micros() as u64,
    });
    result
}

fn reload_error(err: ReconfigureError) -> OpError {
    if err.is_bad_input() {
        OpError::InvalidConfig {
            op: OP.to_string(),
            message: err.to_string(),
        }
    } else {
        OpError::Failed {
            op: OP.to_string(),
            message: err.to_string(),
        }
    }
}

/// The result: the plan ([`crate::config::diff::Plan`]).
fn plan_schema() -> Value {
    let paths = |description: &str| json!({"type": "array", "items": {"type": "string"}, "description": description});
    json!({
        "type": "object",
        "required": ["added", "removed", "changed", "unchanged", "supervisors_changed", "operations", "applied"],
        "additionalProperties": false,
        "properties": {
            "added": paths("Children started (paths in the tree), after the existing ones, in file order"),
            "removed": paths("Children terminated and deleted (they stop in reverse start order), in file order"),
            "changed": paths("Children whose spec changed: terminated, deleted and started again with the new spec (a new generation, fresh state)"),
            "unchanged": paths("Children left running untouched (same generation, same state)"),
            "supervisors_changed": paths("Supervisors whose strategy, intensity or period changed in place"),
            "operations": {
                "type": "object",
                "required": ["added", "removed", "changed"],
                "additionalProperties": false,
                "description": "Operation plugins ([operations.ID]) by id",
                "properties": {
                    "added": paths("Plugins registered"),
                    "removed": paths("Plugins unregistered"),
                    "changed": paths("Plugins re-registered from their new config")
                }
            },
            "applied": {"type": "boolean", "description": "Whether the plan was carried out (false for a dry run)"}
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_at_fault_is_422_and_a_failed_step_500() {
        let refused = reload_error(ReconfigureError::Refused(crate::config::diff::Refusal {
            file: "/w/warden.toml".into(),
            key: "host.api_addr".into(),
            reason: "cannot change while the host runs; restart it".into(),
        }));
        assert_eq!(
            (refused.status_code(), refused.kind()),
            (422, "invalid_config")
        );
        assert!(
            refused.to_string().ends_with(
                "/w/warden.toml: host.api_addr cannot change while the host runs; restart it"
            ),
            "{refused}"
        );
        let step = reload_error(ReconfigureError::Apply {
            step: "starting `root/a`".into(),
            reason: "init refused".into(),
        });
        assert_eq!(step.status_code(), 500);
    }

    #[test]
    fn the_plan_fits_its_schema() {
        let plan = crate::config::diff::Plan {
            added: vec!["root/a".into()],
            applied: true,
            ..Default::default()
        };
        let schema = crate::ops::Schema::compile(plan_schema()).unwrap();
        let value = serde_json::to_value(&plan).unwrap();
        assert!(schema.validate(&value).is_empty(), "{value}");
    }
}
