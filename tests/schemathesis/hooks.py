"""Schemathesis hooks for Warden's API (loaded through SCHEMATHESIS_HOOKS by
tests/all/api_conformance.rs).

`POST /components` takes a component's bytes as `application/wasm`, a media
type schemathesis has no serializer for: its generated body (bytes for a
`format: binary` string, text otherwise) is sent as it is.
"""

import schemathesis


@schemathesis.serializer("application/wasm")
def wasm(ctx, value):
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    return bytes(str(value), "utf-8")
