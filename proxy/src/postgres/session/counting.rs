//! The client connection, split into halves that count the bytes they carry.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf, ReadHalf, WriteHalf};

use crate::postgres::Io;

/// Bytes read from and written to the client.
#[derive(Debug, Default)]
pub struct IoBytes {
    /// From the client.
    pub read: AtomicU64,
    /// To the client.
    pub written: AtomicU64,
}

/// A connection split into counting halves.
pub struct CountingIo;

impl CountingIo {
    /// Splits `io`; the returned counters see every byte either half moves.
    pub fn wrap(io: Box<dyn Io>) -> ((CountingRead, CountingWrite), Arc<IoBytes>) {
        let bytes = Arc::new(IoBytes::default());
        let (read, write) = tokio::io::split(io);
        let halves = (
            CountingRead {
                inner: read,
                bytes: Arc::clone(&bytes),
            },
            CountingWrite {
                inner: write,
                bytes: Arc::clone(&bytes),
            },
        );
        (halves, bytes)
    }
}

/// The reading half.
pub struct CountingRead {
    inner: ReadHalf<Box<dyn Io>>,
    bytes: Arc<IoBytes>,
}

/// The writing half.
pub struct CountingWrite {
    inner: WriteHalf<Box<dyn Io>>,
    bytes: Arc<IoBytes>,
}

impl AsyncRead for CountingRead {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        let read = buf.filled().len().saturating_sub(before) as u64;
        self.bytes.read.fetch_add(read, Ordering::Relaxed);
        poll
    }
}

impl AsyncWrite for CountingWrite {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(written)) = &poll {
            self.bytes
                .written
                .fetch_add(*written as u64, Ordering::Relaxed);
        }
        poll
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
