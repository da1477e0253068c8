//! What a server answers: `DONE` (the version), `STAT` (the compiler's
//! wait status), `SERR` and `SOUT` (its stderr and stdout), then the files
//! the compile produced. A [`Reply`] names those files by what they are
//! ([`OutputKind`]); which of them a version carries, and in what order,
//! is [`OutputKind::carried_by`]'s, so another kind of output (`.dwo`,
//! `.su`) is one more variant rather than one more field.

use std::io::{self, Read, Write};

use super::codec::{read_body, write_body, Codec};
use super::error::{Result, WireError};
use super::limits::Limits;
use super::packet::{read_header, write_header};
use super::token::{Token, DONE, DOTD, DOTO, SERR, SOUT, STAT};
use super::version::{Dist, Version};

/// A file a compile produced, by what it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OutputKind {
    /// The object (`-c`) or assembly (`-S`), as `DOTO`.
    Object,
    /// The dependency file (`-MD`), as `DOTD`: protocol 3 only.
    Deps,
}

impl OutputKind {
    /// The token the output travels under.
    pub fn token(self) -> &'static Token {
        match self {
            OutputKind::Object => DOTO,
            OutputKind::Deps => DOTD,
        }
    }

    /// The outputs a reply in `version` carries, in wire order. Each is
    /// sent, empty when the compile produced none; others are not sent.
    pub fn carried_by(version: Version) -> &'static [OutputKind] {
        match version {
            Version::V3 => &[OutputKind::Object, OutputKind::Deps],
            Version::V1 | Version::V2 => &[OutputKind::Object],
        }
    }
}

/// One produced file and its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    pub kind: OutputKind,
    pub body: Vec<u8>,
}

/// The server's answer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Reply {
    /// The compiler's Unix wait status (`exit::exited` for a job the
    /// daemon ended itself).
    pub status: u32,
    pub stderr: Vec<u8>,
    pub stdout: Vec<u8>,
    /// The files the compile produced, each kind at most once, in kind
    /// order (the wire's).
    pub outputs: Vec<Output>,
}

impl Reply {
    /// The body of the output of `kind`, if the reply has one.
    pub fn output(&self, kind: OutputKind) -> Option<&[u8]> {
        self.outputs
            .iter()
            .find(|o| o.kind == kind)
            .map(|o| &o.body[..])
    }

    /// The object file, empty if there is none (a failed compile).
    pub fn object(&self) -> &[u8] {
        self.output(OutputKind::Object).unwrap_or_default()
    }

    /// Sets the output of `kind`, replacing one there was.
    pub fn set_output(&mut self, kind: OutputKind, body: Vec<u8>) {
        match self.outputs.binary_search_by(|o| o.kind.cmp(&kind)) {
            Ok(i) => self.outputs[i].body = body,
            Err(i) => self.outputs.insert(i, Output { kind, body }),
        }
    }

    /// Takes the output of `kind` out of the reply.
    pub fn take_output(&mut self, kind: OutputKind) -> Option<Vec<u8>> {
        let i = self.outputs.iter().position(|o| o.kind == kind)?;
        Some(self.outputs.remove(i).body)
    }
}

/// How a reply goes on the wire: its version's layout and its bodies'
/// codec, chosen once per request by whoever read the request, so no
/// writer re-derives them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyForm {
    pub version: Version,
    pub codec: Codec,
}

impl ReplyForm {
    /// The reply a request of `version` gets: that version, with the codec
    /// distcc 3.4 pairs with it.
    pub fn of(version: Version) -> ReplyForm {
        ReplyForm {
            version,
            codec: version.codec(),
        }
    }

    /// The reply a request whose `DIST` was `dist` gets: its base version,
    /// in its codec (zstd for our extensions that asked for it).
    pub fn of_dist(dist: Dist) -> ReplyForm {
        ReplyForm {
            version: dist.base(),
            codec: dist.codec(),
        }
    }

    pub fn write<W: Write>(&self, w: &mut W, reply: &Reply) -> io::Result<()> {
        write_reply(w, self.version, self.codec, reply)
    }
}

pub fn write_reply<W: Write>(
    w: &mut W,
    version: Version,
    codec: Codec,
    reply: &Reply,
) -> io::Result<()> {
    write_header(w, DONE, version.number())?;
    write_header(w, STAT, reply.status)?;
    write_body(w, SERR, codec, &reply.stderr)?;
    write_body(w, SOUT, codec, &reply.stdout)?;
    for &kind in OutputKind::carried_by(version) {
        write_body(
            w,
            kind.token(),
            codec,
            reply.output(kind).unwrap_or_default(),
        )?;
    }
    Ok(())
}

pub fn read_reply<R: Read>(
    r: &mut R,
    version: Version,
    codec: Codec,
    limits: &Limits,
) -> Result<Reply> {
    let v = read_header(r, DONE)?;
    if v != version.number() {
        return Err(WireError::BadValue {
            token: *DONE,
            why: format!("asked for version {}, answered {v}", version.number()),
        });
    }
    let status = read_header(r, STAT)?;
    let stderr = read_body(r, SERR, codec, limits)?;
    let stdout = read_body(r, SOUT, codec, limits)?;
    let mut outputs = Vec::new();
    for &kind in OutputKind::carried_by(version) {
        let body = read_body(r, kind.token(), codec, limits)?;
        outputs.push(Output { kind, body });
    }
    Ok(Reply {
        status,
        stderr,
        stdout,
        outputs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_are_named_kept_in_order_and_sent_as_the_version_allows() {
        let mut a = Reply::default();
        a.set_output(OutputKind::Deps, b"x.o: x.c\n".to_vec());
        a.set_output(OutputKind::Object, b"obj".to_vec());
        let mut b = Reply::default();
        b.set_output(OutputKind::Object, b"old".to_vec());
        b.set_output(OutputKind::Object, b"obj".to_vec());
        b.set_output(OutputKind::Deps, b"x.o: x.c\n".to_vec());
        assert_eq!(a, b, "the order outputs are set in does not matter");
        assert_eq!(a.object(), b"obj");

        let mut v1 = Vec::new();
        write_reply(&mut v1, Version::V1, Codec::Raw, &a).unwrap();
        let got = read_reply(&mut &v1[..], Version::V1, Codec::Raw, &Limits::default()).unwrap();
        assert_eq!(
            got.output(OutputKind::Deps),
            None,
            "protocol 1 carries no .d"
        );
        assert_eq!(got.object(), b"obj");

        let empty = read_reply(
            &mut &{
                let mut v3 = Vec::new();
                write_reply(&mut v3, Version::V3, Codec::Lzo, &Reply::default()).unwrap();
                v3
            }[..],
            Version::V3,
            Codec::Lzo,
            &Limits::default(),
        )
        .unwrap();
        assert_eq!(empty.output(OutputKind::Deps), Some(&b""[..]));
        assert_eq!(
            a.clone().take_output(OutputKind::Deps).unwrap(),
            b"x.o: x.c\n"
        );
    }
}
