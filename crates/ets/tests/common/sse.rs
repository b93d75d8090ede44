//! A minimal Server-Sent Events client for the tests of ETS's event streams: the stream is
//! parsed by a task into events and comments.

use std::time::Duration;

use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::Value;
use tokio::sync::mpsc;

/// One item of an event stream.
#[derive(Debug, Clone)]
pub enum Item {
    Event {
        id: Option<String>,
        event: String,
        data: Value,
    },
    Comment(String),
}

/// A minimal SSE client: the stream is parsed by a task into items.
pub struct Sse {
    pub items: mpsc::UnboundedReceiver<Item>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Sse {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Opens `url` as an event stream; on a non-200 answer returns the status and JSON body.
pub async fn open(url: &str, last_event_id: Option<&str>) -> Result<Sse, (StatusCode, Value)> {
    let mut request = reqwest::Client::new()
        .get(url)
        .header("accept", "text/event-stream");
    if let Some(id) = last_event_id {
        request = request.header("last-event-id", id);
    }
    let response = request.send().await.expect("stream request");
    if response.status() != StatusCode::OK {
        let status = response.status();
        return Err((status, response.json().await.unwrap_or_default()));
    }
    assert_eq!(
        response.headers()["content-type"],
        "text/event-stream",
        "SSE content type"
    );
    let (sender, items) = mpsc::unbounded_channel();
    let task = tokio::spawn(async move {
        let mut body = response.bytes_stream();
        let mut buffer = String::new();
        while let Some(Ok(chunk)) = body.next().await {
            buffer.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buffer.find("\n\n") {
                let block: String = buffer.drain(..end + 2).collect();
                let (mut id, mut event, mut data) = (None, String::from("message"), String::new());
                let mut comment = None;
                for line in block.lines() {
                    if let Some(text) = line.strip_prefix(':') {
                        comment = Some(text.trim().to_owned());
                    } else if let Some(value) = line.strip_prefix("id:") {
                        id = Some(value.trim().to_owned());
                    } else if let Some(value) = line.strip_prefix("event:") {
                        event = value.trim().to_owned();
                    } else if let Some(value) = line.strip_prefix("data:") {
                        data.push_str(value.trim_start());
                    }
                }
                let item = match comment {
                    Some(text) if data.is_empty() => Item::Comment(text),
                    _ => Item::Event {
                        id,
                        event,
                        data: serde_json::from_str(&data).unwrap_or(Value::String(data)),
                    },
                };
                if sender.send(item).is_err() {
                    return;
                }
            }
        }
    });
    Ok(Sse { items, task })
}

impl Sse {
    /// The next event (comments skipped), within `within`.
    pub async fn next_event_within(&mut self, within: Duration) -> (Option<String>, String, Value) {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let item = tokio::time::timeout_at(deadline, self.items.recv())
                .await
                .expect("an event arrives in time")
                .expect("the stream is open");
            if let Item::Event { id, event, data } = item {
                return (id, event, data);
            }
        }
    }

    pub async fn next_event(&mut self) -> (Option<String>, String, Value) {
        self.next_event_within(Duration::from_secs(10)).await
    }

    /// The next event, which must be of type `kind`.
    pub async fn expect(&mut self, kind: &str) -> (Option<String>, Value) {
        let (id, event, data) = self.next_event().await;
        assert_eq!(event, kind, "expected a {kind} event, got {event}: {data}");
        assert_eq!(data["type"], kind, "{data}");
        (id, data)
    }

    /// No event arrives within `within`.
    pub async fn expect_quiet(&mut self, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        while let Ok(item) = tokio::time::timeout_at(deadline, self.items.recv()).await {
            if let Some(Item::Event { event, data, .. }) = item {
                panic!("unexpected {event} event: {data}");
            }
        }
    }
}
