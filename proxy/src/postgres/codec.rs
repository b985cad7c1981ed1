//! Framing of the PostgreSQL wire protocol, for both sides of the proxy.
//!
//! The startup phase is read with exact reads: never a byte past the message, so nothing a
//! client sends after an SSLRequest can be read as plaintext and then mistaken for part of the
//! TLS stream. After startup, `FrontendCodec` (client side) and `BackendCodec` (upstream side)
//! frame typed messages, refuse any message whose declared length exceeds the configured limit
//! before reading it, and hand the bytes to pgwire's message decoders.
//!
//! Nothing here panics on input: lengths are checked before use, and every malformed message
//! becomes a `CodecError` that the session turns into a protocol-correct ErrorResponse.

use std::collections::BTreeMap;

use bytes::{Buf, Bytes, BytesMut};
use pgwire::messages::{
    DecodeContext, PgWireBackendMessage, PgWireFrontendMessage, ProtocolVersion,
};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio_util::codec::{Decoder, Encoder};

/// The protocol version blastwall speaks on both sides: 3.0.
pub const PROTOCOL_3_0: i32 = 3 << 16;
const SSL_REQUEST: i32 = 80_877_103;
const GSSENC_REQUEST: i32 = 80_877_104;
const CANCEL_REQUEST: i32 = 80_877_102;
/// Startup packets are small; this bounds what a client can make us allocate before login.
pub const MAX_STARTUP_PACKET: usize = 10_000;

/// What can go wrong reading the protocol.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// The peer closed the connection or the socket failed.
    #[error("connection: {0}")]
    Io(#[from] std::io::Error),
    /// A message declared a length above the limit.
    #[error("message of {declared} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The length the message declared.
        declared: usize,
        /// The configured limit.
        limit: usize,
    },
    /// A message that does not follow the protocol.
    #[error("malformed message: {0}")]
    Malformed(String),
}

/// The first packet of a connection (or the first after TLS was set up).
#[derive(Debug, PartialEq, Eq)]
pub enum StartupPacket {
    /// The client asks for TLS.
    SslRequest,
    /// The client asks for GSSAPI encryption.
    GssEncRequest,
    /// A cancel request for another connection's running query.
    Cancel {
        /// The process id from BackendKeyData.
        pid: i32,
        /// The secret key from BackendKeyData.
        secret: Bytes,
    },
    /// A StartupMessage.
    Startup {
        /// The requested protocol version.
        version: i32,
        /// Parameters: user, database, application_name, options, ...
        parameters: BTreeMap<String, String>,
    },
}

/// Reads exactly one startup-phase packet.
pub async fn read_startup_packet<R: AsyncRead + Unpin>(
    reader: &mut R,
) -> Result<StartupPacket, CodecError> {
    let len = reader.read_i32().await?;
    let len = usize::try_from(len)
        .map_err(|_| CodecError::Malformed("negative startup length".into()))?;
    if len < 8 {
        return Err(CodecError::Malformed(format!(
            "startup packet of {len} bytes"
        )));
    }
    if len > MAX_STARTUP_PACKET {
        return Err(CodecError::TooLarge {
            declared: len,
            limit: MAX_STARTUP_PACKET,
        });
    }
    let mut body = vec![0u8; len - 4];
    reader.read_exact(&mut body).await?;
    parse_startup_packet(Bytes::from(body))
}

fn parse_startup_packet(mut body: Bytes) -> Result<StartupPacket, CodecError> {
    let code = body.get_i32();
    match code {
        SSL_REQUEST if body.is_empty() => Ok(StartupPacket::SslRequest),
        GSSENC_REQUEST if body.is_empty() => Ok(StartupPacket::GssEncRequest),
        CANCEL_REQUEST if body.len() >= 8 => {
            let pid = body.get_i32();
            Ok(StartupPacket::Cancel { pid, secret: body })
        }
        version if version >> 16 == 3 => Ok(StartupPacket::Startup {
            version,
            parameters: parse_parameters(&body)?,
        }),
        other => Err(CodecError::Malformed(format!(
            "unsupported protocol or request code {other}"
        ))),
    }
}

/// `name\0value\0 ... \0`
fn parse_parameters(body: &[u8]) -> Result<BTreeMap<String, String>, CodecError> {
    let mut parameters = BTreeMap::new();
    let mut parts = body.split(|b| *b == 0);
    loop {
        let name = parts
            .next()
            .ok_or_else(|| CodecError::Malformed("unterminated parameters".into()))?;
        if name.is_empty() {
            return Ok(parameters);
        }
        let value = parts
            .next()
            .ok_or_else(|| CodecError::Malformed("parameter without value".into()))?;
        let text = |b: &[u8]| {
            String::from_utf8(b.to_vec())
                .map_err(|_| CodecError::Malformed("parameter is not UTF-8".into()))
        };
        parameters.insert(text(name)?, text(value)?);
    }
}

/// Reads one typed message (`tag`, then length) with exact reads, during authentication.
pub async fn read_message<R: AsyncRead + Unpin>(
    reader: &mut R,
    limit: usize,
) -> Result<(u8, Bytes), CodecError> {
    let tag = reader.read_u8().await?;
    let len = reader.read_i32().await?;
    let len = checked_length(len, limit)?;
    let mut body = vec![0u8; len - 4];
    reader.read_exact(&mut body).await?;
    Ok((tag, Bytes::from(body)))
}

fn checked_length(len: i32, limit: usize) -> Result<usize, CodecError> {
    let len =
        usize::try_from(len).map_err(|_| CodecError::Malformed(format!("message length {len}")))?;
    if len < 4 {
        return Err(CodecError::Malformed(format!("message length {len}")));
    }
    if len > limit {
        return Err(CodecError::TooLarge {
            declared: len,
            limit,
        });
    }
    Ok(len)
}

/// Checks the length of the message at the start of `src` before anything is decoded.
fn check_frame(src: &BytesMut, limit: usize) -> Result<bool, CodecError> {
    let Some(header) = src.get(..5) else {
        return Ok(false);
    };
    let len = i32::from_be_bytes([header[1], header[2], header[3], header[4]]);
    checked_length(len, limit)?;
    Ok(true)
}

fn context() -> DecodeContext {
    let mut context = DecodeContext::new(ProtocolVersion::PROTOCOL3_0);
    context.awaiting_frontend_ssl = false;
    context.awaiting_frontend_startup = false;
    context
}

/// Frames what a client sends after startup, and what blastwall sends back to it.
pub struct FrontendCodec {
    context: DecodeContext,
    limit: usize,
}

impl FrontendCodec {
    /// A codec refusing client messages longer than `limit` bytes.
    pub fn new(limit: usize) -> Self {
        FrontendCodec {
            context: context(),
            limit,
        }
    }
}

impl Decoder for FrontendCodec {
    type Item = PgWireFrontendMessage;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Self::Item>, CodecError> {
        if !check_frame(src, self.limit)? {
            return Ok(None);
        }
        PgWireFrontendMessage::decode(src, &self.context)
            .map_err(|e| CodecError::Malformed(e.to_string()))
    }
}

impl Encoder<PgWireBackendMessage> for FrontendCodec {
    type Error = CodecError;

    fn encode(&mut self, item: PgWireBackendMessage, dst: &mut BytesMut) -> Result<(), CodecError> {
        item.encode(dst)
            .map_err(|e| CodecError::Malformed(e.to_string()))
    }
}

/// Frames what the upstream server sends, and what blastwall sends to it.
pub struct BackendCodec {
    context: DecodeContext,
    limit: usize,
}

impl BackendCodec {
    /// A codec refusing server messages longer than `limit` bytes.
    pub fn new(limit: usize) -> Self {
        BackendCodec {
            context: context(),
            limit,
        }
    }
}

impl Decoder for BackendCodec {
    type Item = PgWireBackendMessage;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Self::Item>, CodecError> {
        if !check_frame(src, self.limit)? {
            return Ok(None);
        }
        PgWireBackendMessage::decode(src, &self.context)
            .map_err(|e| CodecError::Malformed(e.to_string()))
    }
}

impl Encoder<PgWireFrontendMessage> for BackendCodec {
    type Error = CodecError;

    fn encode(
        &mut self,
        item: PgWireFrontendMessage,
        dst: &mut BytesMut,
    ) -> Result<(), CodecError> {
        item.encode(dst)
            .map_err(|e| CodecError::Malformed(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pgwire::messages::simplequery::Query;

    async fn startup(bytes: &[u8]) -> Result<StartupPacket, CodecError> {
        read_startup_packet(&mut &bytes[..]).await
    }

    #[tokio::test]
    async fn ssl_request_golden_bytes() {
        let bytes = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];
        assert_eq!(
            startup(&bytes).await.expect("ssl"),
            StartupPacket::SslRequest
        );
    }

    #[tokio::test]
    async fn startup_message_parameters() {
        let mut bytes = vec![0, 0, 0, 0, 0, 3, 0, 0];
        bytes.extend_from_slice(b"user\0alice\0database\0prod-db\0\0");
        let len = bytes.len() as u32;
        bytes[..4].copy_from_slice(&len.to_be_bytes());
        let StartupPacket::Startup {
            version,
            parameters,
        } = startup(&bytes).await.expect("startup")
        else {
            panic!("not a startup message");
        };
        assert_eq!(version, PROTOCOL_3_0);
        assert_eq!(
            parameters.get("database").map(String::as_str),
            Some("prod-db")
        );
    }

    #[tokio::test]
    async fn hostile_startup_packets_are_errors() {
        let cases: [&[u8]; 6] = [
            &[0, 0, 0, 4],                                   // too short
            &[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0],           // negative length
            &[0x7f, 0xff, 0xff, 0xff, 0, 3, 0, 0],           // huge
            &[0, 0, 0, 12, 0, 3, 0, 0, b'u', 0, b'x', b'y'], // unterminated
            &[0, 0, 0, 8, 0, 9, 0, 0],                       // protocol 9
            &[0, 0, 0, 8],                                   // cut short
        ];
        for bytes in cases {
            assert!(startup(bytes).await.is_err(), "{bytes:?} accepted");
        }
    }

    #[tokio::test]
    async fn no_byte_past_the_packet_is_read() {
        let mut bytes = vec![0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];
        bytes.extend_from_slice(b"plaintext smuggled after SSLRequest");
        let mut reader = &bytes[..];
        assert_eq!(
            read_startup_packet(&mut reader).await.expect("ssl"),
            StartupPacket::SslRequest
        );
        assert_eq!(reader, b"plaintext smuggled after SSLRequest");
    }

    #[test]
    fn oversized_messages_are_refused_before_they_arrive() {
        let mut codec = FrontendCodec::new(1024);
        let mut src = BytesMut::from(&[b'Q', 0, 0, 0x10, 0][..]);
        assert!(matches!(
            codec.decode(&mut src),
            Err(CodecError::TooLarge { declared: 4096, .. })
        ));
    }

    #[test]
    fn query_round_trip() {
        let mut out = BytesMut::new();
        PgWireFrontendMessage::Query(Query::new("SELECT 1".into()))
            .encode(&mut out)
            .expect("encode");
        assert_eq!(&out[..], b"Q\0\0\0\x0dSELECT 1\0");
        let mut codec = FrontendCodec::new(1024);
        let decoded = codec.decode(&mut out).expect("decode").expect("whole");
        assert!(matches!(decoded, PgWireFrontendMessage::Query(q) if q.query == "SELECT 1"));
    }

    #[test]
    fn unknown_message_type_is_malformed() {
        let mut codec = FrontendCodec::new(1024);
        let mut src = BytesMut::from(&[b'!', 0, 0, 0, 4][..]);
        assert!(matches!(
            codec.decode(&mut src),
            Err(CodecError::Malformed(_))
        ));
    }
}
