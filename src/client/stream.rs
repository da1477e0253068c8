//! Our streamed protocol, client side (`protocol::stream`): the request
//! head goes out while the preprocessor runs, and its output follows in
//! chunks (through `tee`) once the server has started its compiler. Every
//! way out leaves the whole preprocessed source in the job's temp files,
//! so a retry elsewhere, a server without streaming, or the fallback
//! continues as the unstreamed path would.

use std::os::unix::process::ExitStatusExt;
use std::time::Instant;

use anyhow::{anyhow, Context};

use super::scan::Job;
use super::{cpp, lock, pick, remote, tee, Blame, Client, Failed};
use crate::exit::{self, Code};
use crate::hosts::Host;
use crate::protocol::{self, Reply, Version};
use crate::state::Phase;
use crate::transport;

impl Client<'_> {
    /// Whether to stream this job's source to `host` while preprocessing:
    /// C-family sources, to hosts not known to lack the extension.
    pub(super) fn streams_to(&self, job: &Job, host: &Host) -> bool {
        self.settings.stream
            && job.needs_cpp()
            && matches!(job.lang.preprocessed_suffix(), "i" | "ii" | "mi" | "mii")
            && pick::speaks(host, self.settings, pick::Extension::Stream)
    }

    /// One attempt with our streamed protocol. `Ok(None)`: the host does
    /// not speak it, and `temps` holds the whole source for the ordinary
    /// protocol. Whatever happens, the preprocessor's output is copied
    /// whole into `temps` before this returns, and its failure is the
    /// job's result.
    pub(super) fn remote_streamed(
        &self,
        job: &Job,
        host: &Host,
        base: Version,
        cpp_slots: u32,
        temps: &mut Option<cpp::Temps>,
    ) -> Result<Option<u8>, Failed> {
        let local_fault = Failed::new(Blame::Local);
        let mid_job = Failed::new(Blame::MidJob);
        let started = Instant::now();
        self.state.phase(Phase::Preprocess);
        let t = cpp::Temps::new(&self.settings.tmpdir, job).map_err(local_fault)?;
        let copy = t.create_copy().map_err(local_fault)?;
        let cpp_slot =
            lock::acquire_cpp(&pick::lock_dir(self.settings), cpp_slots).map_err(local_fault)?;
        let (pre, pipe) =
            cpp::Preprocessor::start_piped(self.compiler, job).map_err(local_fault)?;
        let mut tee = tee::Tee::new(pipe, copy)
            .context("reading the preprocessor")
            .map_err(local_fault)?;
        let sent = self.stream_to(job, host, base, &mut tee);
        let drained = tee.drain();
        let status = pre.wait().map_err(local_fault)?;
        drop(cpp_slot);
        *temps = Some(t);
        if !status.success() {
            // Diagnostics are printed; dropping the connection unsent tells
            // the server to kill its compiler.
            self.state.local("the preprocessor failed");
            return Ok(Some(exit::of_wait_status(status.into_raw())));
        }
        drained
            .context("copying the preprocessed source")
            .map_err(local_fault)?;
        let cpp_done = started.elapsed();
        let mut conn = match sent? {
            Streamed::Sent(conn) => conn,
            Streamed::Answered(reply) => return self.accept_reply(job, reply).map(Some),
            Streamed::Unsupported => return Ok(None),
        };
        remote::send_stream_end(&mut conn).map_err(mid_job)?;
        let reply = self.await_reply(conn, base)?;
        log::info!(
            "{} on {host} (streamed): preprocess+send {} ms, compile+receive {} ms, status {}",
            job.input.to_string_lossy(),
            cpp_done.as_millis(),
            (started.elapsed() - cpp_done).as_millis(),
            reply.status
        );
        self.accept_reply(job, reply).map(Some)
    }

    /// Connects, sends the request head, and streams the source once the
    /// server says go, up to the preprocessor's end of output.
    fn stream_to(
        &self,
        job: &Job,
        host: &Host,
        base: Version,
        tee: &mut tee::Tee,
    ) -> Result<Streamed, Failed> {
        let unreachable = Failed::new(Blame::Unreachable);
        let mid_job = Failed::new(Blame::MidJob);
        self.state.phase(Phase::Connect);
        let mut conn = transport::connect(host, self.settings).map_err(unreachable)?;
        let argv = self.server_argv(job);
        log::debug!("streaming to {host} (protocol {}): {argv:?}", base.number());
        remote::send_stream_head(&mut conn, base, &argv).map_err(mid_job)?;
        self.state.phase(Phase::Preprocess);
        let until = Instant::now() + self.settings.io_timeout;
        let answered = tee
            .await_readable(conn.poll_fd(), until)
            .context("reading the preprocessor")
            .map_err(Failed::new(Blame::Local))?;
        if !answered {
            return Err(mid_job(
                anyhow!(Code::Timeout).context("no answer from the server"),
            ));
        }
        match remote::read_answer(&mut conn) {
            Ok(protocol::stream::Answer::Go) => {}
            Ok(protocol::stream::Answer::Reply(first)) => {
                let reply = remote::receive_after(&mut conn, base, &first).map_err(mid_job)?;
                return Ok(Streamed::Answered(reply));
            }
            Err(e) if e.code() == Code::Truncated || is_reset(&e) => {
                // distcc 3.4 closes on a version it does not know.
                log::info!("{host}: no streaming ({e}); sending sources whole");
                pick::mark_unspoken(host, self.settings, pick::Extension::Stream);
                return Ok(Streamed::Unsupported);
            }
            Err(e) => return Err(mid_job(anyhow!(e.code()).context(e.to_string()))),
        }
        self.state.phase(Phase::Send);
        let wire = tee
            .send(&mut conn, base.codec())
            .context("streaming the source")
            .map_err(mid_job)?;
        log::debug!("streamed {wire} bytes on the wire");
        Ok(Streamed::Sent(conn))
    }
}

/// How far a streamed attempt got before the preprocessor's status is known.
enum Streamed {
    /// The source is sent, all but its end marker.
    Sent(transport::Connection),
    /// The server replied without compiling (refused the job).
    Answered(Reply),
    /// The server closed the connection on our extension.
    Unsupported,
}

fn is_reset(e: &crate::protocol::WireError) -> bool {
    matches!(e, crate::protocol::WireError::Io(io) if io.kind() == std::io::ErrorKind::ConnectionReset)
}
