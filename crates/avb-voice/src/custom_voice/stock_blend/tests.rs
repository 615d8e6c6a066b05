//! The voicelab client against a one-shot HTTP server that answers scripted NDJSON chunks.
#![allow(clippy::unwrap_used)]

use super::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

/// What the server received: the head (request line and headers) and the body's length.
struct Received {
    head: String,
    body_len: usize,
}

/// Serves one request: answers `status` with `content_type`, then `chunks` one at a time with a
/// pause between them (so they arrive as separate reads), then closes the connection.
async fn serve(
    status: &'static str,
    content_type: &'static str,
    chunks: Vec<&'static [u8]>,
) -> (String, tokio::task::JoinHandle<Received>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        let mut buf = Vec::new();
        let mut tmp = [0u8; 8192];
        let head_end = loop {
            let n = sock.read(&mut tmp).await.unwrap();
            buf.extend_from_slice(&tmp[..n]);
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
        let len: usize = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length:")
                    .map(|v| v.trim().parse().unwrap())
            })
            .unwrap_or(0);
        while buf.len() < head_end + len {
            let n = sock.read(&mut tmp).await.unwrap();
            buf.extend_from_slice(&tmp[..n]);
        }
        let reply = format!(
            "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\nconnection: close\r\n\r\n"
        );
        sock.write_all(reply.as_bytes()).await.unwrap();
        for c in chunks {
            sock.write_all(c).await.unwrap();
            sock.flush().await.unwrap();
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        sock.shutdown().await.unwrap();
        Received {
            head,
            body_len: buf.len() - head_end,
        }
    });
    (url, task)
}

async fn make(
    url: &str,
) -> (
    Result<MadeVoice, EngineError>,
    UnboundedReceiver<FitProgress>,
) {
    let maker = StockBlendMaker::new(url, 30, Duration::from_secs(10)).unwrap();
    let (tx, rx) = unbounded_channel();
    (maker.make("Brand", vec![7u8; 1000], tx).await, rx)
}

const NDJSON: &str = "application/x-ndjson";

#[tokio::test]
async fn forwards_progress_and_reads_the_report_across_split_chunks() {
    let (url, server) = serve(
        "200 OK",
        NDJSON,
        vec![
            b"{\"type\":\"progress\",\"fraction\":0.1,\"stage\":\"scoring stock voices\"}\n{\"type\":\"pro",
            b"gress\",\"fraction\":0.3,\"stage\":\"trying blends (5 of ~12) \xe2",
            b"\x80\x94 best so far\"}\n\n",
            b"{\"type\":\"done\",\"voice\":\"af_heart(0.51)+bf_emma(0.49)\",\"weights\":{\"af_heart\":0.51,\"bf_emma\":0.49},",
            b"\"similarity\":0.93,\"fit_similarity\":0.94,\"best_single\":{\"voice\":\"bf_emma\",\"similarity\":0.88},\"evaluations\":9,\"seconds\":57.2}",
        ],
    )
    .await;
    let (made, mut rx) = make(&url).await;
    let made = made.unwrap();
    assert_eq!(made.engine_voice, "af_heart(0.51)+bf_emma(0.49)");
    assert_eq!(made.similarity, Some(0.93));
    assert_eq!(made.best_stock_voice.as_deref(), Some("bf_emma"));
    assert_eq!(made.best_stock_similarity, Some(0.88));
    assert_eq!(made.details["evaluations"], 9);
    let first = rx.recv().await.unwrap();
    assert_eq!(
        (first.fraction, first.stage.as_str()),
        (0.1, "scoring stock voices")
    );
    let second = rx.recv().await.unwrap();
    assert_eq!(
        second.stage,
        "trying blends (5 of ~12) \u{2014} best so far"
    );

    let got = server.await.unwrap();
    assert!(
        got.head
            .starts_with("POST /v1/voice-fits?budget_s=30&lang=en-us HTTP/1.1"),
        "{}",
        got.head
    );
    assert!(
        got.head
            .to_ascii_lowercase()
            .contains("content-type: audio/wav")
    );
    assert_eq!(got.body_len, 1000);
}

#[tokio::test]
async fn an_error_line_a_truncated_stream_and_a_bad_voice_fail() {
    let (url, _s) = serve(
        "200 OK",
        NDJSON,
        vec![b"{\"type\":\"progress\",\"fraction\":0.2,\"stage\":\"x\"}\n{\"type\":\"error\",\"message\":\"out of memory\"}\n"],
    )
    .await;
    assert_eq!(make(&url).await.0, Err(failed("out of memory")));

    let (url, _s) = serve(
        "200 OK",
        NDJSON,
        vec![b"{\"type\":\"progress\",\"fraction\":0.2,\"stage\":\"x\"}\n{\"type\":\"do"],
    )
    .await;
    let (res, mut rx) = make(&url).await;
    assert!(
        matches!(res, Err(EngineError::Failed { message, .. }) if message.contains("malformed"))
    );
    assert_eq!(rx.recv().await.unwrap().fraction, 0.2);

    let (url, _s) = serve(
        "200 OK",
        NDJSON,
        vec![b"{\"type\":\"progress\",\"fraction\":0.2,\"stage\":\"x\"}\n"],
    )
    .await;
    assert_eq!(
        make(&url).await.0,
        Err(failed("the voice engine stopped before finishing"))
    );

    let (url, _s) = serve(
        "200 OK",
        NDJSON,
        vec![b"{\"type\":\"done\",\"voice\":\"../etc/passwd\"}\n"],
    )
    .await;
    assert!(
        matches!(make(&url).await.0, Err(EngineError::Failed { message, .. }) if message.contains("unusable voice"))
    );
}

#[tokio::test]
async fn a_refused_sample_is_rejected_and_other_statuses_fail() {
    let (url, _s) = serve(
        "400 Bad Request",
        "application/json",
        vec![b"{\"error\":\"the sample has no speech\"}"],
    )
    .await;
    assert_eq!(
        make(&url).await.0,
        Err(EngineError::Rejected {
            stage: "voice",
            message: "the sample has no speech".into()
        })
    );
    let (url, _s) = serve(
        "503 Service Unavailable",
        "application/json",
        vec![b"{\"error\":\"busy\"}"],
    )
    .await;
    let res = make(&url).await.0;
    assert!(
        matches!(&res, Err(EngineError::Failed { message, .. }) if message.contains("503")),
        "{res:?}"
    );
    assert!(res.unwrap_err().retryable());
}

#[tokio::test]
async fn the_whole_request_is_timed() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let _hold = tokio::spawn(async move {
        let (sock, _) = listener.accept().await.unwrap();
        tokio::time::sleep(Duration::from_secs(30)).await;
        drop(sock);
    });
    let maker = StockBlendMaker::new(&url, 30, Duration::from_millis(300)).unwrap();
    let (tx, _rx) = unbounded_channel();
    assert_eq!(
        maker.make("x", vec![0; 10], tx).await,
        Err(EngineError::Timeout("voice"))
    );
    assert_eq!(maker.remove("af_heart").await, Ok(()));
}

#[test]
fn blends_are_validated() {
    for ok in [
        "af_heart(0.51)+bf_emma(0.49)",
        "bf_emma",
        "af_heart(2)+am_adam(1)+bf_emma",
    ] {
        assert!(is_blend(ok), "{ok}");
    }
    for bad in [
        "",
        "af_heart(0.5",
        "af_heart(-1)",
        "af_heart(0)",
        "Af_heart",
        "af heart",
        "af_heart()+",
        "a+(1)",
        "x(1e3)",
    ] {
        assert!(!is_blend(bad), "{bad}");
    }
}
