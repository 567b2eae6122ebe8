//! An ingest body, read into a buffer that the next batch reuses.
//!
//! A batch is about 1 MB. Collecting it as hyper's chunks and then copying them into a fresh
//! allocation of that size (`axum::body::to_bytes`) made the allocator hand back freshly mapped
//! pages every batch: hundreds of page faults a batch, each a page zeroed by the kernel, about a
//! tenth of the daemon's time on a steady stream. Here each chunk is copied into a buffer of the
//! pool as it arrives and dropped at once, so hyper's read buffer is reused too.
//!
//! Owns: the pool of buffers. It never keeps more than [`POOLED`] buffers, nor one larger than
//! [`POOLED_CAPACITY`], so a rare huge batch does not hold its memory for good.

use axum::body::Body;
use http_body_util::BodyExt;
use std::sync::Mutex;

/// Buffers kept between batches: the shim posts one batch at a time; two cover an operator's
/// command beside it.
const POOLED: usize = 2;
/// A buffer with more capacity than this goes back to the allocator after its batch.
const POOLED_CAPACITY: usize = 4 << 20;

/// Why a body could not be read.
#[derive(Debug)]
pub enum ReadError {
    /// Longer than the limit.
    TooLarge,
    /// The connection failed or the client stopped sending.
    Broken(axum::Error),
}

/// Buffers for ingest bodies, shared by the connections.
#[derive(Default)]
pub struct BodyPool {
    free: Mutex<Vec<Vec<u8>>>,
}

impl BodyPool {
    /// An empty buffer: one kept from an earlier batch, or a new one.
    pub fn take(&self) -> Vec<u8> {
        self.free
            .lock()
            .ok()
            .and_then(|mut free| free.pop())
            .unwrap_or_default()
    }

    /// A buffer whose batch is done, kept for the next one unless the pool is full or it is
    /// too large to keep.
    pub fn give_back(&self, mut buf: Vec<u8>) {
        if buf.capacity() > POOLED_CAPACITY {
            return;
        }
        buf.clear();
        if let Ok(mut free) = self.free.lock() {
            if free.len() < POOLED {
                free.push(buf);
            }
        }
    }
}

/// Append `body` to `buf` (cleared first), chunk by chunk as it arrives, up to `limit` bytes.
/// `expected` (the `Content-Length`, when sent) sizes the buffer once, up to what the pool
/// keeps: a client announcing 16 MiB and sending nothing does not get 16 MiB reserved.
pub async fn read_into(
    body: Body,
    limit: usize,
    expected: Option<usize>,
    buf: &mut Vec<u8>,
) -> Result<(), ReadError> {
    buf.clear();
    if let Some(len) = expected {
        buf.reserve(len.min(limit).min(POOLED_CAPACITY));
    }
    let mut body = body;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(ReadError::Broken)?;
        if let Ok(data) = frame.into_data() {
            if buf.len() + data.len() > limit {
                return Err(ReadError::TooLarge);
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_body_is_read_whole_and_a_long_one_refused() {
        let mut buf = b"left over".to_vec();
        read_into(Body::from("a\nb\n"), 16, Some(4), &mut buf)
            .await
            .unwrap();
        assert_eq!(buf, b"a\nb\n");
        let refused = read_into(Body::from(vec![b'x'; 17]), 16, None, &mut buf).await;
        assert!(matches!(refused, Err(ReadError::TooLarge)));
    }

    #[test]
    fn the_pool_keeps_few_and_small_buffers() {
        let pool = BodyPool::default();
        let mut small = pool.take();
        small.extend_from_slice(b"batch");
        let capacity = small.capacity();
        pool.give_back(small);
        let again = pool.take();
        assert!(again.is_empty());
        assert_eq!(again.capacity(), capacity);
        pool.give_back(Vec::with_capacity(POOLED_CAPACITY + 1));
        assert_eq!(pool.take().capacity(), 0);
        for _ in 0..POOLED + 1 {
            pool.give_back(Vec::with_capacity(8));
        }
        assert_eq!(pool.free.lock().unwrap().len(), POOLED);
    }
}
