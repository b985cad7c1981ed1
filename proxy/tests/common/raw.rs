//! A raw PostgreSQL wire-protocol client, for the input no stock client would send: garbage
//! before startup, an unknown message type after login, a socket closed mid-query.
//!
//! It speaks only what those tests need: a plaintext StartupMessage, the cleartext password
//! the gateway asks for, simple Queries, and reading typed messages back.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long a test waits for any one message before calling the gateway stuck.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// One backend message: its type byte and body.
#[derive(Debug)]
pub struct Message {
    pub tag: u8,
    pub body: Vec<u8>,
}

impl Message {
    /// An ErrorResponse's or NoticeResponse's fields by their code (`S`, `C`, `M`, ...).
    pub fn field(&self, code: u8) -> Option<String> {
        let mut rest = &self.body[..];
        while let Some((&kind, tail)) = rest.split_first() {
            if kind == 0 {
                break;
            }
            let end = tail.iter().position(|b| *b == 0)?;
            if kind == code {
                return Some(String::from_utf8_lossy(&tail[..end]).into_owned());
            }
            rest = &tail[end + 1..];
        }
        None
    }

    /// `(severity, SQLSTATE, message)` of an ErrorResponse.
    pub fn error(&self) -> (String, String, String) {
        assert_eq!(
            self.tag,
            b'E',
            "expected an ErrorResponse, got {:?}",
            char::from(self.tag)
        );
        (
            self.field(b'S').unwrap_or_default(),
            self.field(b'C').unwrap_or_default(),
            self.field(b'M').unwrap_or_default(),
        )
    }
}

pub struct RawClient {
    pub stream: TcpStream,
}

impl RawClient {
    pub async fn connect(addr: std::net::SocketAddr) -> RawClient {
        let stream = TcpStream::connect(addr)
            .await
            .expect("connect to the gateway");
        RawClient { stream }
    }

    /// Connects, logs in without TLS (the gateway must allow plaintext on loopback) with
    /// `token` as the password, and waits for ReadyForQuery.
    pub async fn login(addr: std::net::SocketAddr, database: &str, token: &str) -> RawClient {
        let mut client = RawClient::connect(addr).await;
        client
            .startup(&[("user", "agent"), ("database", database)])
            .await;
        let request = client.read().await;
        assert_eq!(
            (request.tag, &request.body[..]),
            (b'R', &[0, 0, 0, 3][..]),
            "the gateway asks for a cleartext password"
        );
        client.password(token).await;
        loop {
            let message = client.read().await;
            match message.tag {
                b'Z' => return client,
                b'E' => panic!("login failed: {:?}", message.error()),
                _ => {}
            }
        }
    }

    /// A protocol 3.0 StartupMessage.
    pub async fn startup(&mut self, parameters: &[(&str, &str)]) {
        let mut body = 196_608i32.to_be_bytes().to_vec();
        for (name, value) in parameters {
            body.extend_from_slice(name.as_bytes());
            body.push(0);
            body.extend_from_slice(value.as_bytes());
            body.push(0);
        }
        body.push(0);
        let mut packet = (body.len() as i32 + 4).to_be_bytes().to_vec();
        packet.extend_from_slice(&body);
        self.write(&packet).await;
    }

    /// A PasswordMessage.
    pub async fn password(&mut self, password: &str) {
        let mut body = password.as_bytes().to_vec();
        body.push(0);
        self.send(b'p', &body).await;
    }

    /// A simple Query.
    pub async fn query(&mut self, sql: &str) {
        let mut body = sql.as_bytes().to_vec();
        body.push(0);
        self.send(b'Q', &body).await;
    }

    /// A typed message: tag, length, body.
    pub async fn send(&mut self, tag: u8, body: &[u8]) {
        let mut message = vec![tag];
        message.extend_from_slice(&(body.len() as i32 + 4).to_be_bytes());
        message.extend_from_slice(body);
        self.write(&message).await;
    }

    /// Bytes as they are.
    pub async fn write(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("write");
        self.stream.flush().await.expect("flush");
    }

    /// The next message; panics when the connection closes or nothing comes in time.
    pub async fn read(&mut self) -> Message {
        self.try_read()
            .await
            .expect("a message before the connection closed")
    }

    /// The next message, or `None` once the gateway closed the connection.
    pub async fn try_read(&mut self) -> Option<Message> {
        tokio::time::timeout(READ_TIMEOUT, async {
            let tag = self.stream.read_u8().await.ok()?;
            let len = self.stream.read_i32().await.ok()?;
            let mut body = vec![0u8; usize::try_from(len).ok()?.checked_sub(4)?];
            self.stream.read_exact(&mut body).await.ok()?;
            Some(Message { tag, body })
        })
        .await
        .expect("the gateway answered in time")
    }

    /// Reads until an ErrorResponse, skipping anything else.
    pub async fn read_error(&mut self) -> Message {
        loop {
            let message = self.read().await;
            if message.tag == b'E' {
                return message;
            }
        }
    }

    /// Whether the gateway closed the connection (reads EOF in time).
    pub async fn closed(&mut self) -> bool {
        let mut rest = Vec::new();
        matches!(
            tokio::time::timeout(READ_TIMEOUT, self.stream.read_to_end(&mut rest)).await,
            Ok(Ok(_)) | Ok(Err(_))
        )
    }
}
