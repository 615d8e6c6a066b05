//! A minimal Server-Sent Events decoder for streamed chat completions.

/// Accumulates bytes and yields the `data:` payload of each complete event.
#[derive(Default)]
pub struct SseDecoder {
    buf: String,
}

impl SseDecoder {
    /// Feeds bytes; returns the data payloads of events completed by them.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<String> {
        self.buf.push_str(&String::from_utf8_lossy(bytes));
        if self.buf.contains('\r') {
            self.buf = self.buf.replace("\r\n", "\n");
        }
        let mut out = Vec::new();
        while let Some(end) = self.buf.find("\n\n") {
            let event: String = self.buf.drain(..end + 2).collect();
            let data: Vec<&str> = event
                .lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .map(|d| d.strip_prefix(' ').unwrap_or(d))
                .collect();
            if !data.is_empty() {
                out.push(data.join("\n"));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn splits_events_across_chunks() {
        let mut d = super::SseDecoder::default();
        assert!(d.push(b"data: {\"a\"").is_empty());
        assert_eq!(
            d.push(b":1}\n\ndata: [DONE]\r\n\r\n: comment\n\n"),
            vec!["{\"a\":1}", "[DONE]"]
        );
    }
}
