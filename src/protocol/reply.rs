//! What a server answers: `DONE` (the version), `STAT` (the compiler's
//! wait status), `SERR` and `SOUT` (its stderr and stdout), then the files
//! the compile produced. A [`Reply`] names those files by what they are
//! ([`OutputKind`]); which of them a version carries, and in what order,
//! is [`OutputKind::carried_by`]'s, so another kind of output (`.dwo`,
//! `.su`) is one more variant rather than one more field. What our daemon
//! says about a reply rather than the compile (`note`) follows it last.

use std::io::{self, Read, Write};

use super::codec::{read_body, write_body, Codec};
use super::error::{Result, WireError};
use super::limits::Limits;
use super::note::{self, Note};
use super::packet::{read_header, write_header};
use super::token::{Token, DDWO, DONE, DOTD, DOTO, READ, SERR, SOUT, STAT};
use super::version::{Dist, Version};

/// A file a compile produced, by what it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OutputKind {
    /// The object (`-c`) or assembly (`-S`), as `DOTO`.
    Object,
    /// The dependency file (`-MD`), as `DOTD`: protocol 3 only.
    Deps,
    /// The split DWARF file (`-gsplit-dwarf`), as `DDWO`: only where a
    /// [`ReplyForm`] lists it among its extras (our streamed dialect).
    SplitDwarf,
    /// The files the compiler read, as `READ` after the rest: our hashed
    /// dialect only (`ReplyForm::reads`). A dependency list in make's
    /// form (`reads::parse`), after a first line saying whether it has
    /// every file (`all`) or leaves system headers out (`user`).
    Reads,
}

impl OutputKind {
    /// The token the output travels under.
    pub fn token(self) -> &'static Token {
        match self {
            OutputKind::Object => DOTO,
            OutputKind::Deps => DOTD,
            OutputKind::SplitDwarf => DDWO,
            OutputKind::Reads => READ,
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
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Reply {
    /// The compiler's Unix wait status (`exit::exited` for a job the
    /// daemon ended itself).
    pub status: u32,
    pub stderr: Vec<u8>,
    pub stdout: Vec<u8>,
    /// The files the compile produced, each kind at most once, in kind
    /// order (the wire's).
    pub outputs: Vec<Output>,
    /// What the daemon said about the reply, where the form has a note:
    /// set by the daemon as it sends, never kept in its cache.
    pub note: Option<Note>,
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
    /// Outputs sent after the version's own, each once, when the status
    /// is 0 (and only then: a refusal made before the request was read
    /// carries none): what an extension of ours adds for this request.
    pub extras: &'static [OutputKind],
    /// Our hashed dialect: the list of files read follows the reply.
    pub reads: bool,
    /// The client asked for a note after everything else (`note`).
    pub notes: bool,
}

impl ReplyForm {
    /// The reply a request of `version` gets: that version, with the codec
    /// distcc 3.4 pairs with it.
    pub fn of(version: Version) -> ReplyForm {
        ReplyForm {
            version,
            codec: version.codec(),
            extras: &[],
            reads: false,
            notes: false,
        }
    }

    /// The same, with the split DWARF file after the object.
    pub fn with_split_dwarf(self) -> ReplyForm {
        ReplyForm {
            extras: &[OutputKind::SplitDwarf],
            ..self
        }
    }

    /// The reply to our hashed dialect: protocol 3's in the request's
    /// codec (LZO or zstd), then `READ`.
    pub fn hashed(codec: Codec) -> ReplyForm {
        ReplyForm::of_dist(Dist::hashed(codec))
    }

    /// The reply a request whose `DIST` was `dist` gets, a refusal's
    /// included: its base version, in its codec (zstd for our extensions
    /// that asked for it), with `READ` in the hashed dialect (empty for a
    /// refusal, so the client reads to the end without waiting for the
    /// daemon to hang up), and the note if the request asked for one.
    pub fn of_dist(dist: Dist) -> ReplyForm {
        ReplyForm {
            codec: dist.codec(),
            reads: matches!(dist, Dist::Hashed(..)),
            notes: dist.notes(),
            ..ReplyForm::of(dist.base())
        }
    }

    /// The same, with the note after the reply or without.
    pub fn with_notes(self, notes: bool) -> ReplyForm {
        ReplyForm { notes, ..self }
    }

    pub fn write<W: Write>(&self, w: &mut W, reply: &Reply) -> io::Result<()> {
        write_reply(w, self.version, self.codec, reply)?;
        if reply.status == 0 {
            for &kind in self.extras {
                let body = reply.output(kind).unwrap_or_default();
                write_body(w, kind.token(), self.codec, body)?;
            }
        }
        if self.reads {
            let list = reply.output(OutputKind::Reads).unwrap_or_default();
            write_body(w, READ, self.codec, list)?;
        }
        if self.notes {
            let text = reply.note.as_ref().map(Note::to_text).unwrap_or_default();
            note::write_note(w, text.as_bytes())?;
        }
        Ok(())
    }

    /// Reads a reply in this form.
    pub fn read<R: Read>(&self, r: &mut R, limits: &Limits) -> Result<Reply> {
        let mut reply = read_reply(r, self.version, self.codec, limits)?;
        if reply.status == 0 {
            for &kind in self.extras {
                let body = read_body(r, kind.token(), self.codec, limits)?;
                reply.set_output(kind, body);
            }
        }
        if self.reads {
            // A refusal before the job (any daemon's) ends without a list.
            match read_body(r, READ, self.codec, limits) {
                Ok(list) => reply.set_output(OutputKind::Reads, list),
                Err(WireError::Closed { .. }) => return Ok(reply),
                Err(e) => return Err(e),
            }
        }
        if self.notes {
            reply.note = note::read_note(r)?;
        }
        Ok(reply)
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
        note: None,
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

    /// The split DWARF file travels after the object in a form that lists
    /// it, and only with status 0; a plain form neither sends nor expects it.
    #[test]
    fn split_dwarf_is_an_extra_of_forms_that_list_it() {
        let mut ok = Reply::default();
        ok.set_output(OutputKind::Object, b"obj".to_vec());
        ok.set_output(OutputKind::SplitDwarf, b"dwo".to_vec());
        for form in [ReplyForm::of(Version::V1), ReplyForm::of(Version::V2)] {
            let ours = form.with_split_dwarf();
            let mut wire = Vec::new();
            ours.write(&mut wire, &ok).unwrap();
            let mut r = &wire[..];
            let got = ours.read(&mut r, &Limits::default()).unwrap();
            assert!(r.is_empty());
            assert_eq!(got, ok);
            let mut plain = Vec::new();
            form.write(&mut plain, &ok).unwrap();
            assert_eq!(&wire[..plain.len()], &plain[..], "the extra comes last");
            let got = form.read(&mut &plain[..], &Limits::default()).unwrap();
            assert_eq!(got.output(OutputKind::SplitDwarf), None);

            let failed = Reply {
                status: 1 << 8,
                ..ok.clone()
            };
            let mut wire = Vec::new();
            ours.write(&mut wire, &failed).unwrap();
            let mut r = &wire[..];
            let got = ours.read(&mut r, &Limits::default()).unwrap();
            assert!(r.is_empty(), "no extra after a failure");
            assert_eq!(got.output(OutputKind::SplitDwarf), None);
        }
    }

    /// The note travels last, only to a request that asked for it, and a
    /// reply without one (an older daemon's, a refusal from before the
    /// request was read) reads as one without a note.
    #[test]
    fn the_note_follows_only_a_request_that_asked_for_it() {
        use super::super::note::CacheUse;
        use super::super::status::Status;
        let mut a = Reply::default();
        a.set_output(OutputKind::Object, b"obj".to_vec());
        a.set_output(OutputKind::Reads, b"all\nx.o: x.c\n".to_vec());
        a.note = Some(Note {
            cache: Some(CacheUse::Hit),
            status: Some(Status {
                slots: 2,
                cores: 1.0,
                ..Status::default()
            }),
        });
        let hashed = Dist::hashed(Codec::Zstd);
        let streamed = Dist::streamed(Codec::Lzo);
        for dist in [hashed, streamed, Dist::streamed(Codec::Raw)] {
            let old = ReplyForm::of_dist(dist);
            let ours = ReplyForm::of_dist(dist.noted(true));
            assert!(!old.notes && ours.notes, "{dist:?}");
            let old = ReplyForm {
                reads: dist == hashed,
                ..old
            };
            let ours = ReplyForm {
                reads: dist == hashed,
                ..ours
            };
            let (mut plain, mut noted) = (Vec::new(), Vec::new());
            old.write(&mut plain, &a).unwrap();
            ours.write(&mut noted, &a).unwrap();
            assert_eq!(&noted[..plain.len()], &plain[..], "the note comes last");
            let mut r = &noted[..];
            let got = ours.read(&mut r, &Limits::default()).unwrap();
            assert!(r.is_empty());
            assert_eq!((got.object(), &got.note), (a.object(), &a.note));
            // A request without the bit gets no note, and reads to the end.
            let mut r = &plain[..];
            let got = old.read(&mut r, &Limits::default()).unwrap();
            assert!(r.is_empty() && got.note.is_none());
            // A reply that ends before its note: none.
            let got = ours.read(&mut &plain[..], &Limits::default()).unwrap();
            assert_eq!(got.note, None);
            assert_eq!(got.object(), b"obj");
        }
        // An empty note for a reply with nothing to say.
        let form = ReplyForm::of_dist(streamed.noted(true));
        let mut wire = Vec::new();
        form.write(&mut wire, &Reply::default()).unwrap();
        let got = form.read(&mut &wire[..], &Limits::default()).unwrap();
        assert_eq!(got.note, Some(Note::default()));
        // distcc 3.4's protocols never carry one.
        for v in Version::ALL {
            assert!(!ReplyForm::of_dist(Dist::Plain(v).noted(true)).notes);
        }
    }

    /// A refusal of a hashed request, written in the form its `DIST` gives
    /// (the daemon's, before any job), is read whole by our clients that
    /// ask for a note and by those that do not.
    #[test]
    fn a_hashed_refusal_is_read_whole_by_old_and_new_clients() {
        let refusal = Reply {
            status: 116 << 8,
            stderr: b"distccd: draining\n".to_vec(),
            ..Reply::default()
        };
        for noted in [false, true] {
            let dist = Dist::hashed(Codec::Zstd).noted(noted);
            let mut wire = Vec::new();
            ReplyForm::of_dist(dist).write(&mut wire, &refusal).unwrap();
            let client = ReplyForm::hashed(Codec::Zstd).with_notes(noted);
            let mut r = &wire[..];
            let got = client.read(&mut r, &Limits::default()).unwrap();
            assert!(r.is_empty(), "noted {noted}: bytes left");
            assert_eq!((got.status, got.note.is_some()), (refusal.status, noted));
        }
    }

    #[test]
    fn the_hashed_form_carries_the_read_list_after_the_rest() {
        let mut a = Reply::default();
        a.set_output(OutputKind::Object, b"obj".to_vec());
        a.set_output(OutputKind::Reads, b"all\nx.o: x.c h.h\n".to_vec());
        let form = ReplyForm::hashed(Codec::Lzo);
        let mut wire = Vec::new();
        form.write(&mut wire, &a).unwrap();
        let back = form.read(&mut &wire[..], &Limits::default()).unwrap();
        assert_eq!(back.output(OutputKind::Reads), a.output(OutputKind::Reads));
        let plain = ReplyForm::of(Version::V3);
        let mut wire3 = Vec::new();
        plain.write(&mut wire3, &a).unwrap();
        assert!(wire3.len() < wire.len(), "protocol 3 carries no read list");
        let back = plain.read(&mut &wire3[..], &Limits::default()).unwrap();
        assert_eq!(back.output(OutputKind::Reads), None);
    }
}
