//! An instance that cannot be set up because the process has as many
//! memory mappings as the kernel allows says so, instead of "Cannot
//! allocate memory".
//!
//! A test binary of its own: it fills this process's mappings up to the
//! kernel's limit, which would fail any test running beside it.

use serde_json::json;
use warden_component::invoke::call_json;
use warden_component::{
    Capabilities, ComponentError, Limits, Metering, Prepared, Runtime, RuntimeConfig,
};

/// A component with a linear memory, a data segment (the copy-on-write
/// image every instance maps) and one function.
const SEVEN: &str = r#"(component
  (core module $m
    (memory (export "memory") 1)
    (data (i32.const 0) "warden")
    (func (export "seven") (result i32) i32.const 7))
  (core instance $i (instantiate $m))
  (func (export "seven") (result u32) (canon lift (core func $i "seven"))))"#;

fn seven(prepared: &Prepared) -> Result<serde_json::Value, ComponentError> {
    let call = call_json(
        prepared,
        "seven",
        &[],
        &Limits::default(),
        &Capabilities::default(),
        None,
    )?;
    call.outcome
}

/// One-page anonymous mappings until the kernel refuses another;
/// neighbours alternate their protection, so none merge into one.
#[allow(
    unsafe_code,
    reason = "raw mmap: the test needs mappings that never merge"
)]
fn fill_mappings() -> Vec<*mut libc::c_void> {
    let mut maps = Vec::new();
    loop {
        let prot = if maps.len() % 2 == 0 {
            libc::PROT_READ
        } else {
            libc::PROT_NONE
        };
        // SAFETY: a fresh anonymous mapping at an address the kernel picks;
        // nothing else refers to it.
        let page = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                4096,
                prot,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if page == libc::MAP_FAILED {
            return maps;
        }
        maps.push(page);
    }
}

#[test]
#[allow(unsafe_code, reason = "unmapping the pages `fill_mappings` mapped")]
fn an_instance_past_the_mapping_limit_names_the_limit() {
    let runtime = Runtime::new(RuntimeConfig::default()).unwrap();
    let component = wat::parse_str(SEVEN).unwrap();
    let prepared = runtime.prepare_own(&component, Metering::Off).unwrap();
    assert_eq!(seven(&prepared).unwrap(), json!(7));

    let maps = fill_mappings();
    let refused = seven(&prepared);
    for &page in &maps {
        // SAFETY: each page came from `mmap` above and is unmapped once.
        unsafe { libc::munmap(page, 4096) };
    }
    match refused {
        Err(ComponentError::Instantiation { reason }) => {
            assert!(
                reason.contains("vm.max_map_count") && reason.contains("sysctl"),
                "{reason}"
            )
        }
        other => panic!("expected the mapping limit, got {other:?}"),
    }
    assert_eq!(
        seven(&prepared).unwrap(),
        json!(7),
        "instances set up again once mappings are free"
    );
}
