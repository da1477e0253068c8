//! What the reception stage waits for on the TLS port: the client's
//! first TLS record whole (the handshake then runs on a worker, `tls`),
//! or a plaintext distcc request, which is refused in its own protocol.

use crate::tls::looks_like_tls_hello;

/// What the reception stage has of a TLS port's connection.
#[derive(Debug, PartialEq, Eq)]
pub enum Hello {
    /// Not enough to judge yet.
    Partial,
    /// The first TLS record is in: the handshake can start.
    Complete,
    /// A distcc request in plaintext: answered with a refusal.
    Plain,
    /// Neither.
    Garbage,
}

/// Judges the first bytes of a connection on the TLS port.
pub fn judge_hello(buf: &[u8]) -> Hello {
    let head = &buf[..buf.len().min(4)];
    if head.is_empty() {
        Hello::Partial
    } else if b"DIST".starts_with(head) {
        Hello::Plain
    } else if !looks_like_tls_hello(head) {
        Hello::Garbage
    } else if buf.len() < 5 {
        Hello::Partial
    } else {
        let len = u16::from_be_bytes([buf[3], buf[4]]) as usize;
        match buf.len() >= 5 + len {
            true => Hello::Complete,
            false => Hello::Partial,
        }
    }
}

/// The refusal a plaintext client gets on the TLS port.
pub const PLAINTEXT_REFUSAL: &str =
    "this port serves TLS clients only: write the host as HOST,tls (see distcc --trust)";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hellos_are_judged_by_their_first_record() {
        assert_eq!(judge_hello(b""), Hello::Partial);
        assert_eq!(judge_hello(b"DI"), Hello::Plain);
        assert_eq!(judge_hello(b"DIST00000001"), Hello::Plain);
        assert_eq!(judge_hello(b"GET / HTTP/1.0"), Hello::Garbage);
        assert_eq!(judge_hello(&[0x16, 0x03]), Hello::Partial);
        assert_eq!(
            judge_hello(&[0x16, 0x03, 0x01, 0x00, 0x03, 1, 2]),
            Hello::Partial
        );
        assert_eq!(
            judge_hello(&[0x16, 0x03, 0x01, 0x00, 0x03, 1, 2, 3]),
            Hello::Complete
        );
        assert_eq!(judge_hello(&[0x16, 0x02]), Hello::Garbage);
    }
}
