//! The system resolver's raw query (`res_query`, in glibc's libc since
//! 2.34), for records getaddrinfo does not return (SRV): the answer as the
//! server sent it, for the caller to parse.

use std::ffi::CString;

/// The DNS class and type of an SRV query.
pub const CLASS_IN: i32 = 1;
pub const TYPE_SRV: i32 = 33;

extern "C" {
    fn res_query(
        dname: *const libc::c_char,
        class: libc::c_int,
        kind: libc::c_int,
        answer: *mut u8,
        anslen: libc::c_int,
    ) -> libc::c_int;
}

/// The answer to a query for `name`'s records of `kind`, or `None` (no
/// such name or record, no server, a name with a NUL).
pub fn query(name: &str, class: i32, kind: i32) -> Option<Vec<u8>> {
    let name = CString::new(name).ok()?;
    let mut buf = vec![0u8; 8192];
    // SAFETY: a NUL-terminated name and a buffer of the length given.
    let n = unsafe {
        res_query(
            name.as_ptr(),
            class,
            kind,
            buf.as_mut_ptr(),
            buf.len() as libc::c_int,
        )
    };
    // A longer answer was cut at the buffer's end: use what fits.
    let n = usize::try_from(n).ok()?.min(buf.len());
    buf.truncate(n);
    Some(buf)
}
