//! An OS error in the C library's words (`strerror`), without Rust's
//! " (os error N)" suffix: what distcc 3.4 prints, and what users grep for.

use std::io;

/// `e`'s text as strerror(3) gives it for an OS error; Rust's own text
/// for any other.
pub fn strerror(e: &io::Error) -> String {
    let text = e.to_string();
    match e.raw_os_error() {
        Some(n) => text
            .strip_suffix(&format!(" (os error {n})"))
            .map_or_else(|| text.clone(), str::to_string),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_errors_lose_their_number() {
        let e = io::Error::from_raw_os_error(libc::ECONNREFUSED);
        assert_eq!(strerror(&e), "Connection refused");
        let e = io::Error::new(io::ErrorKind::TimedOut, "timed out after 4 s");
        assert_eq!(strerror(&e), "timed out after 4 s");
    }
}
