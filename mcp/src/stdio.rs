//! stdio as JSON-RPC 2.0 wants it: a line that is not JSON is answered with a parse error
//! (`-32700`, id null) and the session goes on; rmcp alone drops such a line in silence, and
//! the client waits for an answer that never comes. Every other line reaches rmcp unchanged
//! through an in-process pipe; its messages and these errors leave on the output one whole
//! line at a time.

use rmcp::transport::async_rw::DEFAULT_MAX_LINE_LENGTH;
use serde_json::json;
use tokio::io::{
    AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader, DuplexStream,
};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Room in the pipes to and from rmcp.
const PIPE: usize = 256 * 1024;

/// The ends rmcp serves on, and the task that writes the output (await it before exiting, so
/// that the last answers are flushed).
pub struct Checked {
    pub read: DuplexStream,
    pub write: DuplexStream,
    pub output: JoinHandle<()>,
}

/// Serves `input` and `output` (stdin and stdout) to rmcp through [`Checked`]'s pipes.
pub fn checked<R, W>(input: R, output: W) -> Checked
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (read, mut to_rmcp) = tokio::io::duplex(PIPE);
    let (write, from_rmcp) = tokio::io::duplex(PIPE);
    let (errors, mut error_lines) = mpsc::channel::<String>(16);
    tokio::spawn(async move {
        let mut input = BufReader::new(input);
        let mut line = Vec::new();
        loop {
            line.clear();
            let reply = match read_line(&mut input, &mut line, DEFAULT_MAX_LINE_LENGTH).await {
                Ok(Line::End) | Err(_) => break,
                Ok(Line::TooLong) => error(
                    -32600,
                    format!(
                        "Invalid Request: a message is at most {} MiB",
                        DEFAULT_MAX_LINE_LENGTH >> 20
                    ),
                ),
                Ok(Line::Read) => {
                    let text = line
                        .strip_prefix(b"\xEF\xBB\xBF")
                        .unwrap_or(&line)
                        .trim_ascii();
                    if text.is_empty() {
                        continue;
                    }
                    match serde_json::from_slice::<serde::de::IgnoredAny>(text) {
                        Ok(_) => {
                            let sent = async {
                                to_rmcp.write_all(text).await?;
                                to_rmcp.write_all(b"\n").await
                            };
                            if sent.await.is_err() {
                                break;
                            }
                            continue;
                        }
                        Err(e) => error(-32700, format!("Parse error: {e}")),
                    }
                }
            };
            if errors.send(reply).await.is_err() {
                break;
            }
        }
        // Dropping the pipe ends rmcp's input, as the end of stdin would.
    });
    let output = tokio::spawn(async move {
        let mut out = output;
        let mut from_rmcp = BufReader::new(from_rmcp).lines();
        loop {
            let line = tokio::select! {
                line = from_rmcp.next_line() => match line {
                    Ok(Some(line)) => line,
                    _ => break,
                },
                Some(line) = error_lines.recv() => line,
            };
            let written = async {
                out.write_all(line.as_bytes()).await?;
                out.write_all(b"\n").await?;
                out.flush().await
            };
            if written.await.is_err() {
                break;
            }
        }
    });
    Checked {
        read,
        write,
        output,
    }
}

fn error(code: i64, message: String) -> String {
    json!({"jsonrpc": "2.0", "id": null, "error": {"code": code, "message": message}}).to_string()
}

enum Line {
    Read,
    TooLong,
    End,
}

/// Reads one line into `line` (without its newline), keeping at most `max` bytes: a longer
/// line is skipped to its end.
async fn read_line<R: AsyncBufRead + Unpin>(
    input: &mut R,
    line: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<Line> {
    let mut too_long = false;
    loop {
        let buf = input.fill_buf().await?;
        if buf.is_empty() {
            return Ok(match (too_long, line.is_empty()) {
                (true, _) => Line::TooLong,
                (false, true) => Line::End,
                (false, false) => Line::Read,
            });
        }
        let newline = buf.iter().position(|b| *b == b'\n');
        let chunk = &buf[..newline.unwrap_or(buf.len())];
        if !too_long {
            if line.len() + chunk.len() > max {
                too_long = true;
                line.clear();
            } else {
                line.extend_from_slice(chunk);
            }
        }
        let used = newline.map_or(buf.len(), |i| i + 1);
        input.consume(used);
        if newline.is_some() {
            return Ok(if too_long { Line::TooLong } else { Line::Read });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn lines_are_bounded() {
        let text = b"short\n0123456789abc\nlast";
        let mut input = BufReader::with_capacity(4, &text[..]);
        let mut line = Vec::new();
        let mut seen = Vec::new();
        loop {
            line.clear();
            match read_line(&mut input, &mut line, 10).await.unwrap() {
                Line::Read => seen.push(String::from_utf8(line.clone()).unwrap()),
                Line::TooLong => seen.push("(too long)".into()),
                Line::End => break,
            }
        }
        assert_eq!(seen, ["short", "(too long)", "last"]);
    }
}
