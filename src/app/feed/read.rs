//! Reading a byte stream into lines with bounded memory: a line longer than the limit is
//! skipped in chunks (only its length and a short preview are kept), so even a stream with no
//! newline at all never holds more than the limit in memory. Bytes stay bytes here; UTF-8 is
//! checked per line later, so one bad byte rejects its line instead of ending the run.

use std::io::{self, BufRead, Read};

/// A UTF-8 byte order mark, which some tools write at the start of a file.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// How much of a too-long line is kept to show in `rejects`.
pub const PREVIEW_BYTES: usize = 256;

/// What `next_into` appended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineRead {
    /// A complete line (without its line ending) was appended.
    Line { number: u64 },
    /// The line was longer than the limit: only a preview (valid UTF-8) was appended;
    /// `bytes` is its full length without the line ending.
    TooLong { number: u64, bytes: u64 },
}

/// Lines of at most `max` bytes from a buffered reader, numbered from 1, blank ones skipped
/// (they keep their number), a leading BOM dropped.
pub struct BoundedLines<R> {
    inner: R,
    max: usize,
    number: u64,
}

impl<R: BufRead> BoundedLines<R> {
    pub fn new(inner: R, max: usize) -> BoundedLines<R> {
        BoundedLines {
            inner,
            max: max.max(1),
            number: 0,
        }
    }

    /// Appends the next non-blank line to `out` and says what it was; `None` at the end.
    /// `out` grows by at most `max + 1` bytes during the call, whatever the input.
    pub fn next_into(&mut self, out: &mut Vec<u8>) -> io::Result<Option<LineRead>> {
        loop {
            let start = out.len();
            // One byte over the limit tells a line of exactly `max` bytes from a longer one.
            let limit = self.max as u64 + 1;
            let n = (&mut self.inner).take(limit).read_until(b'\n', out)?;
            if n == 0 {
                return Ok(None);
            }
            self.number += 1;
            let ended = out.last() == Some(&b'\n');
            if ended {
                out.pop();
                if out.last() == Some(&b'\r') {
                    out.pop();
                }
            }
            if self.number == 1 && out[start..].starts_with(BOM) {
                out.drain(start..start + BOM.len());
            }
            let len = out.len() - start;
            if !ended && len > self.max {
                let rest = self.skip_line()?;
                let preview = String::from_utf8_lossy(&out[start..start + PREVIEW_BYTES.min(len)])
                    .into_owned();
                out.truncate(start);
                out.extend_from_slice(preview.as_bytes());
                return Ok(Some(LineRead::TooLong {
                    number: self.number,
                    bytes: len as u64 + rest,
                }));
            }
            if out[start..].iter().all(u8::is_ascii_whitespace) {
                out.truncate(start);
                continue;
            }
            return Ok(Some(LineRead::Line {
                number: self.number,
            }));
        }
    }

    /// Consumes the rest of the current line without keeping it; returns how many bytes it
    /// had (line ending excluded).
    fn skip_line(&mut self) -> io::Result<u64> {
        let mut skipped = 0u64;
        loop {
            let buf = match self.inner.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if buf.is_empty() {
                return Ok(skipped);
            }
            match buf.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    let cr = usize::from(i > 0 && buf[i - 1] == b'\r');
                    skipped += (i - cr) as u64;
                    self.inner.consume(i + 1);
                    return Ok(skipped);
                }
                None => {
                    let n = buf.len();
                    skipped += n as u64;
                    self.inner.consume(n);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `len` bytes of `x` with no newline, then `tail`, generated on the fly and counted.
    struct Generated {
        len: u64,
        pos: u64,
        tail: &'static [u8],
    }

    impl Read for Generated {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.pos < self.len {
                let n = (self.len - self.pos).min(buf.len() as u64) as usize;
                buf[..n].fill(b'x');
                self.pos += n as u64;
                return Ok(n);
            }
            let off = (self.pos - self.len) as usize;
            let n = (self.tail.len() - off.min(self.tail.len())).min(buf.len());
            buf[..n].copy_from_slice(&self.tail[off..off + n]);
            self.pos += n as u64;
            Ok(n)
        }
    }

    fn all(text: &[u8], max: usize) -> Vec<(LineRead, Vec<u8>)> {
        let mut lines = BoundedLines::new(text, max);
        let mut out = Vec::new();
        let mut got = Vec::new();
        while let Some(r) = lines.next_into(&mut out).expect("read") {
            got.push((r, std::mem::take(&mut out)));
        }
        got
    }

    #[test]
    fn numbers_lines_skips_blanks_and_strips_endings_and_the_bom() {
        let got = all(b"\xEF\xBB\xBF{\"a\":1}\r\n\n  \nlast", 100);
        assert_eq!(
            got,
            vec![
                (LineRead::Line { number: 1 }, b"{\"a\":1}".to_vec()),
                (LineRead::Line { number: 4 }, b"last".to_vec()),
            ]
        );
        // A BOM later in the stream is data, not a marker.
        let got = all(b"a\n\xEF\xBB\xBFb\n", 100);
        assert_eq!(got[1].1, b"\xEF\xBB\xBFb".to_vec());
        // Bytes stay bytes: invalid UTF-8 is passed on for the caller to reject.
        let got = all(b"ok\n\xFF\xFEbad\nafter\n", 100);
        assert_eq!(got.len(), 3);
        assert_eq!(got[1].1, b"\xFF\xFEbad".to_vec());
    }

    #[test]
    fn the_limit_is_exact_in_bytes() {
        let got = all(b"12345\n123456\n1234567", 6);
        assert_eq!(got[0].0, LineRead::Line { number: 1 });
        assert_eq!(got[1].0, LineRead::Line { number: 2 });
        assert_eq!(
            got[2],
            (
                LineRead::TooLong {
                    number: 3,
                    bytes: 7
                },
                // The preview is what was read before the limit was known to be passed.
                b"1234567".to_vec()
            )
        );
        // A preview never splits a character into invalid UTF-8.
        let text = "é".repeat(200);
        let got = all(text.as_bytes(), 10);
        let LineRead::TooLong { bytes, .. } = got[0].0 else {
            panic!("{:?}", got[0].0)
        };
        assert_eq!(bytes, 400);
        assert!(std::str::from_utf8(&got[0].1).is_ok());
    }

    #[test]
    fn a_newline_free_stream_is_skipped_with_bounded_memory() {
        const MAX: usize = 64 * 1024;
        let len = 8 * 1024 * 1024;
        let stream = Generated {
            len,
            pos: 0,
            tail: b"\n{\"next\":true}\n",
        };
        let mut lines = BoundedLines::new(io::BufReader::with_capacity(8 * 1024, stream), MAX);
        let mut out = Vec::new();
        let first = lines.next_into(&mut out).expect("read");
        assert_eq!(
            first,
            Some(LineRead::TooLong {
                number: 1,
                bytes: len
            })
        );
        // The buffer held at most the limit (plus Vec's growth slack), never the 8 MiB line.
        assert!(
            out.capacity() <= 2 * (MAX + 1),
            "capacity {}",
            out.capacity()
        );
        assert!(out.len() <= PREVIEW_BYTES);
        out.clear();
        let second = lines.next_into(&mut out).expect("read");
        assert_eq!(second, Some(LineRead::Line { number: 2 }));
        assert_eq!(out, b"{\"next\":true}".to_vec());
        assert_eq!(lines.next_into(&mut out).expect("read"), None);
        // Everything was read: the long line was consumed, not left behind.
        assert_eq!(lines.inner.into_inner().pos, len + 15);
    }
}
