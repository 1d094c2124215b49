//! Lower-case hex text of bytes: how digests are written into Redis keys,
//! session and token records, CSRF tokens, control signatures and backup
//! checksums, and read back where a stored digest is compared.

/// `bytes` as lower-case hex, two characters a byte. On the bearer path
/// (a token's digest on every request), so written without an allocation
/// per byte.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

/// The `N` bytes that `2 * N` lower-case hex digits spell (what [`hex`]
/// writes); `None` for any other text.
pub fn bytes_of<const N: usize>(text: &str) -> Option<[u8; N]> {
    let text = text.as_bytes();
    if text.len() != 2 * N {
        return None;
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let mut out = [0u8; N];
    for (byte, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
        *byte = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_byte_is_two_lower_case_digits() {
        assert_eq!(hex(&[]), "");
        assert_eq!(hex(&[0x00, 0x0f, 0xa0, 0xff]), "000fa0ff");
    }

    #[test]
    fn hex_reads_back_only_as_exactly_its_own_lower_case_digits() {
        assert_eq!(bytes_of::<4>("000fa0ff"), Some([0x00, 0x0f, 0xa0, 0xff]));
        for bad in ["", "000fa0f", "000fa0ff0", "000FA0FF", "000fa0fg"] {
            assert_eq!(bytes_of::<4>(bad), None, "{bad}");
        }
    }
}
