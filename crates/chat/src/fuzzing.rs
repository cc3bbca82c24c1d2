//! For fuzzing only (the `fuzz/` crate and the replay of its corpus in `cargo test`), built
//! with the `fuzzing` feature: the decoding and checking that a client's Socket.IO packets and
//! REST bodies go through before any store is touched. Not an API.
//!
//! Each function takes arbitrary bytes and must neither panic nor end in a server error.

use crate::error::ChatError;
use crate::protocol::{self, *};
use crate::rest::{AddMembers, CreateConversation, EditBody, ReceiptBody, Rename, SendBody};
use crate::service::{check_edit, check_emoji, check_send, check_seq};
use crate::socket::Handshake;
use chatsync_core::ids::ConversationId;
use chatsync_core::validate::ConversationName;
use serde::de::DeserializeOwned;
use socketioxide_core::Str;
use socketioxide_core::packet::PacketData;
use socketioxide_core::parser::{Parse, ParseConfig, ParserState};
use socketioxide_parser_common::CommonParser;

/// One Socket.IO text frame as a chat node receives it: parsed by socketioxide's parser, then,
/// for an event, its payload decoded into the handler's type (as `TryData` does) and checked as
/// the service checks it; for a connect, the handshake decoded.
pub fn socket_packet(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        // Engine.IO text frames are UTF-8; anything else never reaches the parser.
        return;
    };
    let parser = CommonParser;
    let state = ParserState::default();
    let Ok(packet) = parser.decode_str(&ParseConfig::default(), &state, Str::from(text.to_owned()))
    else {
        return;
    };
    match packet.inner {
        PacketData::Connect(auth) => {
            let _ = parser.decode_default::<Handshake>(auth.as_ref());
        }
        PacketData::Event(mut value, _) | PacketData::BinaryEvent(mut value, _) => {
            let Ok(event) = parser.read_event(&value).map(str::to_owned) else {
                return;
            };
            let outcome = match event.as_str() {
                protocol::SEND => decode(&mut value, |p: SendPayload| check_send(&p).map(drop)),
                protocol::TYPING => decode(&mut value, |_: TypingPayload| Ok(())),
                protocol::RECEIPT => decode(&mut value, |p: ReceiptPayload| check_seq(p.seq)),
                protocol::SYNC => decode(&mut value, |_: SyncPayload| Ok(())),
                protocol::EDIT => {
                    decode(&mut value, |p: EditPayload| check_edit(&p.body).map(drop))
                }
                protocol::DELETE => decode(&mut value, |_: DeletePayload| Ok(())),
                protocol::REACT => decode(&mut value, |p: ReactPayload| check_emoji(&p.emoji)),
                _ => Ok(()),
            };
            if let Err(e) = outcome {
                refused(e);
            }
        }
        _ => {}
    }
}

fn decode<T: serde::de::DeserializeOwned>(
    value: &mut socketioxide_core::Value,
    check: impl FnOnce(T) -> Result<(), ChatError>,
) -> Result<(), ChatError> {
    match CommonParser.decode_value::<T>(value, true) {
        Ok(p) => check(p),
        Err(e) => Err(ChatError::Payload(e.to_string())),
    }
}

/// A refusal must be a client error, over a socket and over REST alike.
fn refused(e: ChatError) {
    assert!(
        matches!(e, ChatError::Payload(_) | ChatError::Invalid(_)),
        "a bad payload gave {e:?}"
    );
    let _ = e.ack();
    let status = chatsync_platform::http::ApiError::from(e).status();
    assert!(status.is_client_error(), "a bad payload gave {status}");
}

/// The chat REST routes that take a JSON body, chosen by the first byte; the rest is the body.
/// Decoded by the services' JSON extractor and checked as the handlers check it.
pub fn rest_body(data: &[u8]) {
    let Some((which, body)) = data.split_first() else {
        return;
    };
    let cid = ConversationId::new();
    match which % 6 {
        0 => extract(body, |c: CreateConversation| match c {
            CreateConversation::Direct { .. } => Ok(()),
            CreateConversation::Group { name, .. } => {
                ConversationName::parse(&name).map(drop).map_err(Into::into)
            }
        }),
        1 => extract(body, |r: Rename| {
            ConversationName::parse(&r.name)
                .map(drop)
                .map_err(Into::into)
        }),
        2 => extract(body, |_: AddMembers| Ok(())),
        3 => extract(body, |s: SendBody| {
            check_send(&SendPayload {
                conversation_id: cid,
                client_id: s.client_id,
                body: s.body,
                attachments: s.attachments,
                reply_to: s.reply_to,
                mentions: s.mentions,
            })
            .map(drop)
        }),
        4 => extract(body, |r: ReceiptBody| check_seq(r.seq)),
        _ => extract(body, |e: EditBody| check_edit(&e.body).map(drop)),
    }
}

fn extract<T: DeserializeOwned>(body: &[u8], check: impl FnOnce(T) -> Result<(), ChatError>) {
    chatsync_platform::fuzzing::json_body(body, |v| check(v).map_err(Into::into));
}
