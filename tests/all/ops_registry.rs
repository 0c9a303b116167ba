//! The operation registry with the real `wordcount` plugin: registration,
//! validation before execution, misbehaving plugins, re-registration with a
//! changed schema, and the generated OpenAPI document.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use warden::component::{
    Capabilities, ComponentError, Interrupt, Limits, Metering, OpInfo, OperationProgram, Runtime,
};
use warden::ops::{
    OpError, OpMeta, OperationSource, PluginFailure, PluginOperations, RegisterError, Registry,
};

use crate::support::{prepare, runtime};

fn limits() -> Limits {
    Limits {
        timeout: Some(Duration::from_secs(5)),
        ..Limits::default()
    }
}

fn wordcount(rt: &Runtime, id: &str, limits: Limits, metering: Metering) -> Arc<PluginOperations> {
    let program = OperationProgram::new(prepare(rt, "wordcount", metering)).expect("fits world");
    Arc::new(PluginOperations::new(
        id,
        program,
        limits,
        Capabilities::default(),
    ))
}

fn violations(err: &OpError) -> Vec<(String, String)> {
    match err {
        OpError::InvalidParams { violations, .. } => violations
            .iter()
            .map(|v| (v.path.clone(), v.expected.clone()))
            .collect(),
        other => panic!("expected invalid params, got {other:?}"),
    }
}

#[tokio::test]
async fn a_plugin_operation_is_registered_validated_and_executed() {
    let rt = runtime();
    let registry = Registry::new();
    let names = registry
        .register_plugin(
            "wordcount",
            wordcount(&rt, "wordcount", limits(), Metering::Off),
        )
        .unwrap();
    assert_eq!(names, ["wordcount.count"]);
    let op = registry.get("wordcount.count").unwrap();
    assert_eq!(op.route().method, "POST");
    assert_eq!(op.route().path, "/ops/wordcount.count");
    assert!(!op.is_read_only());

    let result = registry
        .call(
            "wordcount.count",
            json!({"text": "The cat and the hat. The end!", "top": 2}),
        )
        .await
        .unwrap();
    assert_eq!(
        result,
        json!({"words": 7, "unique": 5, "top": [{"word": "the", "count": 3}, {"word": "and", "count": 1}]})
    );

    // Every violation, with its path, before the plugin runs.
    let err = registry
        .call("wordcount.count", json!({"top": 0, "extra": 1}))
        .await
        .unwrap_err();
    assert_eq!(err.status_code(), 400);
    assert_eq!(
        violations(&err),
        [
            ("/text".to_string(), "required property `text`".to_string()),
            (
                "/extra".to_string(),
                "no property `extra` (known: text, top)".to_string()
            ),
            ("/top".to_string(), "integer >= 1".to_string()),
        ]
    );
    let body = err.body();
    assert_eq!(body["error"]["kind"], "invalid_params");
    assert_eq!(body["error"]["violations"].as_array().unwrap().len(), 3);
    let err = registry
        .call("wordcount.count", json!({"text": 5, "top": "x"}))
        .await
        .unwrap_err();
    assert_eq!(
        violations(&err),
        [
            ("/text".to_string(), "string".to_string()),
            ("/top".to_string(), "integer".to_string()),
        ]
    );

    let err = registry
        .call("wordcount.nope", json!({}))
        .await
        .unwrap_err();
    assert!(matches!(err, OpError::UnknownOperation { .. }), "{err:?}");
    assert_eq!(err.status_code(), 404);
}

#[tokio::test]
async fn a_plugin_that_fails_gives_an_error_and_later_calls_work() {
    let rt = runtime();
    let registry = Registry::new();
    // The same component three times, under different ids and limits.
    registry
        .register_plugin("wc", wordcount(&rt, "wc", limits(), Metering::Off))
        .unwrap();
    let fuel = Limits {
        fuel: Some(20_000_000),
        ..limits()
    };
    registry
        .register_plugin("lean", wordcount(&rt, "lean", fuel, Metering::Fuel))
        .unwrap();
    let small_memory = Limits {
        memory_bytes: 4 << 20,
        ..limits()
    };
    registry
        .register_plugin(
            "small",
            wordcount(&rt, "small", small_memory, Metering::Off),
        )
        .unwrap();
    let slow = Limits {
        timeout: Some(Duration::from_millis(30)),
        memory_bytes: 512 << 20,
        ..limits()
    };
    registry
        .register_plugin("slow", wordcount(&rt, "slow", slow, Metering::Off))
        .unwrap();

    let huge = "lorem ipsum dolor sit amet ".repeat(400_000);
    let err = registry
        .call("lean.count", json!({"text": huge}))
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            OpError::PluginFailed { plugin, reason: PluginFailure::Component(e), .. }
                if plugin == "lean" && matches!(**e, ComponentError::OutOfFuel { .. })
        ),
        "{err:?}"
    );
    assert_eq!(
        err.status_code(),
        422,
        "the guest's failure, not the server's"
    );
    assert_eq!(err.body()["error"]["cause"], "out_of_fuel");

    let err = registry
        .call("small.count", json!({"text": huge}))
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            OpError::PluginFailed { reason: PluginFailure::Component(e), .. }
                if matches!(**e, ComponentError::MemoryLimit { .. })
        ),
        "{err:?}"
    );

    let err = registry
        .call(
            "slow.count",
            json!({"text": "a b c d e f g h ".repeat(2_000_000)}),
        )
        .await
        .unwrap_err();
    assert!(matches!(&err, OpError::Timeout { .. }), "{err:?}");
    assert_eq!(err.status_code(), 504);

    // Each call had its own sandbox: the failed plugins still answer, and
    // so does everyone else.
    for id in ["lean", "small", "slow", "wc"] {
        let out = registry
            .call(&format!("{id}.count"), json!({"text": "b a b"}))
            .await
            .unwrap_or_else(|e| panic!("{id}: {e}"));
        assert_eq!(out["words"], 3, "{id}");
        assert_eq!(out["top"][0], json!({"word": "b", "count": 2}), "{id}");
    }
}

/// Wraps the real plugin and edits what it describes: what a reload of the
/// plugin with a new version would do, without building a second plugin.
struct Edited {
    inner: Arc<PluginOperations>,
    edit: fn(Vec<OpInfo>) -> Vec<OpInfo>,
}

impl OperationSource for Edited {
    fn describe(&self) -> Result<Vec<OpInfo>, ComponentError> {
        self.inner.describe().map(self.edit)
    }
    fn execute(
        &self,
        name: &str,
        params: &str,
        caller: &Interrupt,
    ) -> Result<Result<String, String>, ComponentError> {
        self.inner.execute(name, params, caller)
    }
}

#[tokio::test]
async fn re_registering_a_plugin_replaces_its_operations_and_schemas() {
    let rt = runtime();
    let registry = Registry::new();
    let real = wordcount(&rt, "wc", limits(), Metering::Off);
    registry.register_plugin("wc", real.clone()).unwrap();
    let params = json!({"text": "x y z", "top": 50});
    registry.call("wc.count", params.clone()).await.unwrap();

    // Version 2 caps `top` at 10: enforced from the next call.
    let tightened = Edited {
        inner: real.clone(),
        edit: |mut infos| {
            let mut schema: Value = serde_json::from_str(&infos[0].params_schema).unwrap();
            schema["properties"]["top"]["maximum"] = json!(10);
            infos[0].params_schema = schema.to_string();
            infos
        },
    };
    registry.register_plugin("wc", Arc::new(tightened)).unwrap();
    let err = registry.call("wc.count", params.clone()).await.unwrap_err();
    assert_eq!(
        violations(&err),
        [("/top".to_string(), "integer <= 10".to_string())]
    );
    assert_eq!(
        registry.get("wc.count").unwrap().params_schema().source()["properties"]["top"]["maximum"],
        10
    );

    // Version 3 drops the operation: it is gone.
    let empty = Edited {
        inner: real.clone(),
        edit: |_| Vec::new(),
    };
    assert!(
        registry
            .register_plugin("wc", Arc::new(empty))
            .unwrap()
            .is_empty()
    );
    assert!(matches!(
        registry.call("wc.count", params.clone()).await,
        Err(OpError::UnknownOperation { .. })
    ));

    // A version with a schema outside the supported subset is refused,
    // naming plugin and op, and the registry keeps what it had.
    registry.register_plugin("wc", real.clone()).unwrap();
    let bad = Edited {
        inner: real.clone(),
        edit: |mut infos| {
            infos[0].params_schema =
                json!({"type": "object", "properties": {"text": {"pattern": "^a"}}}).to_string();
            infos
        },
    };
    let err = registry.register_plugin("wc", Arc::new(bad)).unwrap_err();
    assert!(
        matches!(err, RegisterError::InvalidSchema { .. }),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(
        message.contains("plugin `wc`")
            && message.contains("`count`")
            && message.contains("pattern"),
        "{message}"
    );
    registry.call("wc.count", params.clone()).await.unwrap();
    let not_json = Edited {
        inner: real,
        edit: |mut infos| {
            infos[0].params_schema = "{oops".into();
            infos
        },
    };
    let err = registry
        .register_plugin("wc", Arc::new(not_json))
        .unwrap_err();
    assert!(err.to_string().contains("not valid JSON"), "{err}");
}

#[tokio::test]
async fn builtins_are_easy_to_register_and_re_registering_replaces_them() {
    let registry = Registry::new();
    registry
        .register_builtin(
            OpMeta::new("child.info", "Describes a child")
                .params(json!({"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]}))
                .read_only(true),
            |params| {
                Box::pin(async move {
                    let id = params["id"].as_str().unwrap_or_default().to_string();
                    if id == "ghost" {
                        return Err(OpError::NotFound {
                            what: format!("child `{id}`"),
                        });
                    }
                    Ok(json!({"id": id, "state": "running"}))
                })
            },
        )
        .unwrap();
    let op = registry.get("child.info").unwrap();
    assert!(op.is_read_only());
    assert_eq!(
        registry
            .call("child.info", json!({"id": "a"}))
            .await
            .unwrap(),
        json!({"id": "a", "state": "running"})
    );
    let err = registry
        .call("child.info", json!({"id": "ghost"}))
        .await
        .unwrap_err();
    assert_eq!(
        (err.status_code(), err.to_string().as_str()),
        (404, "child `ghost` not found")
    );
    let err = registry.call("child.info", json!({})).await.unwrap_err();
    assert_eq!(
        violations(&err),
        [("/id".to_string(), "required property `id`".to_string())]
    );

    // Same name again with a changed schema: replaced and enforced.
    registry
        .register_builtin(
            OpMeta::new("child.info", "Describes a child")
                .params(json!({"type": "object", "properties": {"id": {"type": "integer"}}, "required": ["id"]})),
            |params| Box::pin(async move { Ok(params) }),
        )
        .unwrap();
    let err = registry
        .call("child.info", json!({"id": "a"}))
        .await
        .unwrap_err();
    assert_eq!(
        violations(&err),
        [("/id".to_string(), "integer".to_string())]
    );
    assert_eq!(
        registry.call("child.info", json!({"id": 7})).await.unwrap(),
        json!({"id": 7})
    );
    assert_eq!(registry.operations().len(), 1);

    // Errors at registration.
    let bad_schema = registry
        .register_builtin(
            OpMeta::new("x.y", "bad").params(json!({"type": "object", "if": {}})),
            |p| Box::pin(async move { Ok(p) }),
        )
        .unwrap_err();
    assert!(
        bad_schema
            .to_string()
            .contains("invalid params schema for `x.y`"),
        "{bad_schema}"
    );
    let bad_name = registry
        .register_builtin(OpMeta::new("Child Info", "bad"), |p| {
            Box::pin(async move { Ok(p) })
        })
        .unwrap_err();
    assert!(matches!(bad_name, RegisterError::InvalidName { .. }));

    // A plugin may not take a built-in's name, nor a built-in a plugin's.
    let rt = runtime();
    let plugin = wordcount(&rt, "child", limits(), Metering::Off);
    registry
        .register_builtin(OpMeta::new("child.count", "taken"), |p| {
            Box::pin(async move { Ok(p) })
        })
        .unwrap();
    let err = registry.register_plugin("child", plugin).unwrap_err();
    assert!(matches!(err, RegisterError::Taken { .. }), "{err:?}");
    registry
        .register_plugin(
            "wordcount",
            wordcount(&rt, "wordcount", limits(), Metering::Off),
        )
        .unwrap();
    let err = registry
        .register_builtin(OpMeta::new("wordcount.count", "mine"), |p| {
            Box::pin(async move { Ok(p) })
        })
        .unwrap_err();
    assert!(err.to_string().contains("plugin `wordcount`"), "{err}");
}

#[tokio::test]
async fn the_openapi_document_is_generated_from_the_registry() {
    let rt = runtime();
    let registry = Registry::new();
    registry
        .register_builtin(
            OpMeta::new("health", "Health report")
                .read_only(true)
                .result(json!({"type": "object", "properties": {"ok": {"type": "boolean"}}})),
            |_| Box::pin(async { Ok(json!({"ok": true})) }),
        )
        .unwrap();
    registry
        .register_plugin(
            "wordcount",
            wordcount(&rt, "wordcount", limits(), Metering::Off),
        )
        .unwrap();
    let doc = registry.openapi_document("Warden", "0.1.0");
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["info"]["title"], "Warden");
    assert_eq!(doc["info"]["version"], "0.1.0");
    let paths = doc["paths"].as_object().unwrap();
    assert_eq!(paths.len(), registry.operations().len());
    for op in registry.operations() {
        let item = &paths[&op.route().path][op.route().method.to_ascii_lowercase()];
        assert_eq!(item["operationId"], op.name());
        assert_eq!(item["summary"], op.summary());
        assert_eq!(
            &item["requestBody"]["content"]["application/json"]["schema"],
            op.params_schema().source()
        );
        for status in ["200", "400", "404", "422", "500"] {
            assert!(
                item["responses"].get(status).is_some(),
                "{} {status}",
                op.name()
            );
        }
        // Every $ref resolves inside the document.
        for status in ["400", "404", "422"] {
            let reference = item["responses"][status]["$ref"].as_str().unwrap();
            let target = doc.pointer(reference.trim_start_matches('#')).unwrap();
            let schema_ref = target["content"]["application/json"]["schema"]["$ref"]
                .as_str()
                .unwrap();
            assert!(
                doc.pointer(schema_ref.trim_start_matches('#')).is_some(),
                "{schema_ref}"
            );
        }
    }
    let count = &paths["/ops/wordcount.count"]["post"];
    assert_eq!(
        count["requestBody"]["content"]["application/json"]["schema"]["properties"]["top"]["maximum"],
        100
    );
    assert_eq!(count["tags"], json!(["plugin:wordcount"]));
    let health = &paths["/ops/health"]["post"];
    assert_eq!(health["x-warden-read-only"], true);
    assert_eq!(
        health["responses"]["200"]["content"]["application/json"]["schema"]["properties"]["ok"]["type"],
        "boolean"
    );
    // The error body an OpError produces matches the documented schema.
    let err_schema =
        warden::ops::Schema::compile(doc["components"]["schemas"]["Error"].clone()).unwrap();
    let err = registry
        .call("wordcount.count", json!({}))
        .await
        .unwrap_err();
    assert!(err_schema.validate(&err.body()).is_empty());
}

/// Plugin code never holds the async runtime's thread: while one call
/// spins until its timeout, another call to the same host answers at once,
/// even on a runtime of one thread.
#[tokio::test(flavor = "current_thread")]
async fn a_spinning_plugin_call_leaves_the_thread_to_other_calls() {
    let rt = runtime();
    let program = OperationProgram::new(prepare(&rt, "misbehave", Metering::Off)).unwrap();
    let limit = Duration::from_millis(500);
    let source = PluginOperations::new(
        "mis",
        program,
        Limits {
            timeout: Some(limit),
            ..Limits::default()
        },
        Capabilities::default(),
    );
    let registry = Registry::new();
    registry.register_plugin("mis", Arc::new(source)).unwrap();
    let started = std::time::Instant::now();
    let spinning = tokio::spawn({
        let registry = registry.clone();
        async move { registry.call("mis.loop", json!({})).await }
    });
    // Let the spinning call start.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!spinning.is_finished());
    let answered = registry.call("mis.ok", json!({})).await.unwrap();
    let waited = started.elapsed();
    assert_eq!(answered, json!({}));
    assert!(
        waited < limit - Duration::from_millis(100) && !spinning.is_finished(),
        "the second call waited {waited:?}, behind the spinning one"
    );
    let err = spinning.await.unwrap().unwrap_err();
    assert_eq!(err.status_code(), 504, "{err}");
}
