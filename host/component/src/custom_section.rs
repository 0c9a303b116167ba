//! Appending a custom section to a component: the bytes stay a valid
//! component with the same behaviour but a different content hash, so the
//! host sees a new version. Benchmarks and tests use it to make reloadable
//! variants of one plugin without rebuilding it.

/// `component` with one more custom section named `name` holding `payload`.
pub fn with_custom_section(component: &[u8], name: &str, payload: &[u8]) -> Vec<u8> {
    let mut section = Vec::with_capacity(name.len() + payload.len() + 5);
    leb128(name.len(), &mut section);
    section.extend_from_slice(name.as_bytes());
    section.extend_from_slice(payload);
    let mut out = Vec::with_capacity(component.len() + section.len() + 6);
    out.extend_from_slice(component);
    out.push(0); // custom section id
    leb128(section.len(), &mut out);
    out.extend_from_slice(&section);
    out
}

fn leb128(mut n: usize, out: &mut Vec<u8>) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_are_leb128() {
        let mut v = Vec::new();
        leb128(300, &mut v);
        assert_eq!(v, [0xac, 0x02]);
        let out = with_custom_section(b"\0asm\x0d\0\x01\0", "n", b"xy");
        assert_eq!(&out[8..], [0, 4, 1, b'n', b'x', b'y']);
    }
}
