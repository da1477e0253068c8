//! The client's side of one connection to a volunteer, as bytes: opening
//! it, writing a request built in memory (corked on TCP), waiting for the
//! reply and reading it, with the monitor's phases on the way. What the
//! bytes say is each dialect's (`plain`, `streamed`, `exact`, `hashed`)
//! and `protocol`'s; the byte stream itself is `transport`'s.

use std::io::{self, BufReader, Read, Write};

use anyhow::{Context as _, Result};

use super::context::Context;
use super::outcome::{Blame, Failed};
use crate::hosts::Host;
use crate::protocol::{Limits, Reply, ReplyForm, Version};
use crate::state::Phase;
use crate::transport::{self, Connection};

/// Connects to `host`, in the monitor's Connect phase. A host that cannot
/// be reached lost no work: [`Blame::Unreachable`].
pub fn open(ctx: &Context, host: &Host) -> Result<Connection, Failed> {
    ctx.state.phase(Phase::Connect);
    transport::connect(host, ctx.settings).map_err(Failed::by(Blame::Unreachable))
}

/// Writes one buffer, corked on TCP so it leaves in as few packets as
/// possible.
pub fn write_all(conn: &mut Connection, buf: &[u8], cork: bool) -> io::Result<()> {
    if cork {
        conn.cork(true);
    }
    let r = conn.write_all(buf).and_then(|()| conn.flush());
    if cork {
        conn.cork(false);
    }
    r
}

/// Waits for the server's reply to a sent request and reads it, the two
/// together within `DISTCC_IO_TIMEOUT`; the monitor sees the compile and
/// the receiving apart.
pub fn await_reply(ctx: &Context, conn: Connection, version: Version) -> Result<Reply, Failed> {
    await_reply_in(ctx, conn, ReplyForm::of(version))
}

/// [`await_reply`] for a reply in `form` (with our extensions' extras).
pub fn await_reply_in(
    ctx: &Context,
    mut conn: Connection,
    form: ReplyForm,
) -> Result<Reply, Failed> {
    let mid_job = Failed::by(Blame::MidJob);
    ctx.state.phase(Phase::Compile);
    conn.set_time_limit(Some(ctx.settings.io_timeout));
    conn.wait_readable()
        .context("waiting for the compile")
        .map_err(mid_job)?;
    ctx.state.phase(Phase::Receive);
    receive_after(&mut conn, form, &[]).map_err(mid_job)
}

/// Starts the send phase: what follows is written (and, for our extensions,
/// answered) within `DISTCC_IO_TIMEOUT`.
pub fn start_send(ctx: &Context, conn: &mut Connection) {
    ctx.state.phase(Phase::Send);
    conn.set_time_limit(Some(ctx.settings.io_timeout));
}

/// Reads the server's reply in `form`, the first `already` bytes of which
/// were read.
pub fn receive_after(conn: &mut Connection, form: ReplyForm, already: &[u8]) -> Result<Reply> {
    form.read(
        &mut already.chain(BufReader::with_capacity(64 * 1024, conn)),
        &Limits::for_replies(),
    )
    .context("reading the reply")
}
