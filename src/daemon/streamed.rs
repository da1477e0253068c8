//! Our streamed dialect (`protocol::stream`): the arguments are checked
//! and the compiler started before the source arrives; the source is fed
//! to the compiler's stdin chunk by chunk while the client's preprocessor
//! is still writing it. The reply is protocol 1's or 2's.

use std::fs::File;
use std::io::{self, BufRead, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};

use super::cache::Inputs;
use super::job::{self, Feed, Job, Verdict};
use super::policy::{self, ServerJob};
use super::refusal::Refusal;
use super::server::Server;
use crate::exit::Code;
use crate::protocol::hashed::{Digest, Digesting};
use crate::protocol::{stream, Codec, Limits, RequestHead};
use crate::sys::{self, poll_events};

/// The `-x` language gcc needs to read a preprocessed source from stdin,
/// by the suffix the policy would give its temp file. Assembler (from
/// `.S`) keeps the unstreamed path: it is rare, and its only gain would be
/// a start-up that `as` barely has.
fn language(temp_suffix: &str) -> Option<&'static str> {
    Some(match temp_suffix {
        ".i" => "cpp-output",
        ".ii" => "c++-cpp-output",
        ".mi" => "objective-c-cpp-output",
        ".mii" => "objective-c++-cpp-output",
        _ => return None,
    })
}

/// Prepares a streamed request whose head has been read. `until` is when
/// the whole request must have arrived. A refusal is answered before the
/// client streams anything: our client waits for the go-ahead.
pub fn prepare<'a, R: BufRead>(
    server: &'a Server,
    head: RequestHead,
    codec: Codec,
    input: &'a mut R,
    output: &mut dyn Write,
    until: Instant,
) -> Result<Verdict<'a>> {
    let (plan, program, lang) = match accept(server, &head) {
        Ok(accepted) => accepted,
        Err(refusal) => return Ok(Err(refusal)),
    };
    let dir = match job::dir(server) {
        Ok(d) => d,
        // Said before the go-ahead, so the client tries another host
        // rather than taking this one for a daemon without streaming.
        Err(e) => {
            let why = format!(
                "cannot create a job dir in {}: {e}",
                server.tmpdir.display()
            );
            return Ok(Err(Refusal::new(Code::IoError, why)));
        }
    };
    let (output_name, mut job) = match plan.split_dwarf {
        false => {
            let name = Path::new(policy::output_name(plan.mode));
            (name, Job::in_dir(&head, program, Vec::new(), dir, name))
        }
        true => match split_dwarf_job(&head, &plan, program, dir) {
            Ok(named) => named,
            Err(refusal) => return Ok(Err(refusal)),
        },
    };
    let output_name = output_name.as_os_str();
    // Started early, a compiler holds no job slot while its source comes
    // (a client that stalls must not starve others of slots), so their
    // number is bounded on its own; past it, the source is received into
    // a file and compiled as an unstreamed one would be.
    // With a result cache, the source is received whole first: a hit
    // must not have started the compiler.
    let early = match server.cache {
        Some(_) => None,
        None => server.early.try_acquire(),
    };
    match early {
        None => {
            let input_name = format!("input{}", plan.temp_suffix);
            let file = job.dir.path().join(&input_name);
            let source = receive_whole(input, output, codec, &server.limits, &file)?;
            job.inputs = Some(Inputs::source(&source));
            job.args = plan.rewrite(&head.argv[1..], input_name.as_ref(), output_name);
        }
        Some(token) => {
            let mut args = plan.rewrite(&head.argv[1..], "-".as_ref(), output_name);
            args.splice(
                plan.input_index..plan.input_index,
                ["-x".into(), lang.into()],
            );
            job.args = args;
            let stop = server.stop.fd();
            let limits = server.limits;
            job.feed = Feed::Pipe {
                feed: Box::new(move |output: &mut dyn Write, pipe: File| -> Result<File> {
                    stream::write_go(output).context("telling the client to stream")?;
                    let mut sink = PipeSink::new(pipe, until, stop)?;
                    stream::read_chunks(input, codec, &limits, |data| sink.write(data))
                        .context("reading the streamed source")?;
                    Ok(sink.pipe)
                }),
                token,
            };
        }
    }
    Ok(Ok(job))
}

/// A `-gsplit-dwarf` job: the object goes where the client's `-o` names
/// it, inside the job dir, since the object records its `.dwo` by that
/// path; the reply carries the `.dwo` back.
fn split_dwarf_job<'a, 'h>(
    head: &'h RequestHead,
    plan: &ServerJob,
    program: PathBuf,
    dir: tempfile::TempDir,
) -> std::result::Result<(&'h Path, Job<'a>), Refusal> {
    let named = plan
        .output_in_job_dir(&head.argv[1..])
        .map_err(Refusal::bad_arguments)?;
    if let Some(parent) = named.parent() {
        std::fs::create_dir_all(dir.path().join(parent)).map_err(|e| {
            Refusal::new(
                Code::IoError,
                format!("cannot create the output's dir: {e}"),
            )
        })?;
    }
    let mut job = Job::in_dir(head, program, Vec::new(), dir, named);
    job.reply = job.reply.with_split_dwarf();
    Ok((named, job))
}

/// What a streamed job needs from its head, or why it cannot be served:
/// the policy's plan, the compiler to run, the `-x` language for stdin.
fn accept(
    server: &Server,
    head: &RequestHead,
) -> std::result::Result<(ServerJob, PathBuf, &'static str), Refusal> {
    let plan = policy::check_with(&head.argv[1..], true)?;
    let program = server.whitelist.resolve(&head.argv[0])?;
    let lang = language(plan.temp_suffix)
        .ok_or_else(|| Refusal::bad_arguments("only preprocessed C-family sources are streamed"))?;
    Ok((plan, program, lang))
}

/// Tells the client to go ahead and receives its whole source into `file`;
/// returns the source's digest.
fn receive_whole<R: BufRead>(
    input: &mut R,
    output: &mut dyn Write,
    codec: Codec,
    limits: &Limits,
    file: &Path,
) -> Result<Digest> {
    stream::write_go(output).context("telling the client to stream")?;
    let mut file = Digesting::new(io::BufWriter::with_capacity(
        64 * 1024,
        File::create(file).context("creating the job's input")?,
    ));
    stream::read_chunks(input, codec, limits, |data| file.write_all(data))
        .context("reading the streamed source")?;
    let (mut file, digest) = file.finish();
    file.flush().context("writing the job's input")?;
    Ok(digest)
}

/// The compiler's stdin. Writes wait for room until the request's
/// deadline and give up when the daemon stops; once the compiler has
/// closed its input (it failed early), the rest is read and dropped, so
/// the client still gets the compiler's own reply.
struct PipeSink {
    pipe: File,
    until: Instant,
    stop: RawFd,
    closed: bool,
}

impl PipeSink {
    fn new(pipe: File, until: Instant, stop: RawFd) -> io::Result<PipeSink> {
        sys::set_nonblocking(&pipe)?;
        Ok(PipeSink {
            pipe,
            until,
            stop,
            closed: false,
        })
    }

    fn write(&mut self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() && !self.closed {
            match (&self.pipe).write(data) {
                Ok(n) => data = &data[n..],
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => self.closed = true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    let fds = [
                        (self.pipe.as_raw_fd(), libc::POLLOUT),
                        (self.stop, libc::POLLIN),
                    ];
                    match poll_events(&fds, Some(self.until))? {
                        Some(0) => {}
                        Some(_) => {
                            return Err(io::Error::new(
                                io::ErrorKind::ConnectionAborted,
                                "the daemon is stopping",
                            ))
                        }
                        None => {
                            return Err(io::Error::new(
                                io::ErrorKind::TimedOut,
                                "the compiler stopped reading its input",
                            ))
                        }
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::time::Duration;

    fn pipe() -> (File, File) {
        let (r, w) = sys::pipe(false).unwrap();
        (File::from(r), File::from(w))
    }

    #[test]
    fn languages_by_suffix() {
        assert_eq!(language(".i"), Some("cpp-output"));
        assert_eq!(language(".ii"), Some("c++-cpp-output"));
        assert_eq!(language(".s"), None);
    }

    #[test]
    fn a_reader_that_went_away_makes_the_rest_vanish() {
        let (r, w) = pipe();
        drop(r);
        let stop = crate::daemon::signals::Latch::new().unwrap();
        let far = Instant::now() + Duration::from_secs(60);
        let mut sink = PipeSink::new(w, far, stop.fd()).unwrap();
        sink.write(&[b'x'; 200_000]).unwrap();
        sink.write(b"more").unwrap();
        assert!(sink.closed);
    }

    #[test]
    fn a_reader_that_stops_reading_times_out() {
        let (_r, w) = pipe();
        let stop = crate::daemon::signals::Latch::new().unwrap();
        let until = Instant::now() + Duration::from_millis(50);
        let mut sink = PipeSink::new(w, until, stop.fd()).unwrap();
        let e = sink.write(&vec![0u8; 4 << 20]).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
    }

    #[test]
    fn everything_written_arrives() {
        let (mut r, w) = pipe();
        let stop = crate::daemon::signals::Latch::new().unwrap();
        let reader = std::thread::spawn(move || {
            let mut all = Vec::new();
            r.read_to_end(&mut all).unwrap();
            all
        });
        let data: Vec<u8> = (0..1_000_000u32).map(|i| (i % 253) as u8).collect();
        let far = Instant::now() + Duration::from_secs(60);
        let mut sink = PipeSink::new(w, far, stop.fd()).unwrap();
        sink.write(&data).unwrap();
        drop(sink);
        assert_eq!(reader.join().unwrap(), data);
    }
}
