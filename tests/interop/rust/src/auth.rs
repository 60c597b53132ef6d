//! --auth-token: the exchange of docs/AUTH.md on the relay connection: protocol
//! /meshnet/relay-auth/1.0.0, one uvarint-length-prefixed AuthRequest{bytes token = 1} written,
//! one length-prefixed AuthResponse{uint32 status = 1; string text = 2} read. Two fields each
//! way, so they are encoded here by hand.

use std::time::Duration;

use futures::{AsyncReadExt, AsyncWriteExt};
use libp2p::{PeerId, StreamProtocol};
use libp2p_stream::Control;
use serde_json::json;

use crate::{emit, errors};

pub const AUTH: StreamProtocol = StreamProtocol::new("/meshnet/relay-auth/1.0.0");
const MAX_REPLY: u64 = 4096;
const OK: u32 = 100;

fn put_uvarint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A uvarint at the start of `b`: (value, bytes used).
fn get_uvarint(b: &[u8]) -> Option<(u64, usize)> {
    let mut v = 0u64;
    for (i, &x) in b.iter().enumerate().take(10) {
        v |= u64::from(x & 0x7f) << (7 * i);
        if x & 0x80 == 0 {
            return Some((v, i + 1));
        }
    }
    None
}

/// The framed AuthRequest.
fn request(token: &str) -> Vec<u8> {
    let mut msg = vec![1 << 3 | 2];
    put_uvarint(&mut msg, token.len() as u64);
    msg.extend_from_slice(token.as_bytes());
    let mut frame = Vec::new();
    put_uvarint(&mut frame, msg.len() as u64);
    frame.extend_from_slice(&msg);
    frame
}

/// AuthResponse's status and text (fields it does not know are skipped).
fn parse_response(mut b: &[u8]) -> Result<(u32, String), String> {
    let bad = || "malformed AuthResponse".to_string();
    let (mut status, mut text) = (None, String::new());
    while !b.is_empty() {
        let (key, k) = get_uvarint(b).ok_or_else(bad)?;
        b = &b[k..];
        let skip = match key & 7 {
            0 => {
                let (v, k) = get_uvarint(b).ok_or_else(bad)?;
                if key >> 3 == 1 {
                    status = Some(v as u32);
                }
                k
            }
            2 => {
                let (l, k) = get_uvarint(b).ok_or_else(bad)?;
                let end = k
                    .checked_add(l as usize)
                    .filter(|&e| e <= b.len())
                    .ok_or_else(bad)?;
                if key >> 3 == 2 {
                    text = String::from_utf8_lossy(&b[k..end]).into_owned();
                }
                end
            }
            1 => 8,
            5 => 4,
            _ => return Err(bad()),
        };
        b = b.get(skip..).ok_or_else(bad)?;
    }
    Ok((status.ok_or("AuthResponse without a status")?, text))
}

fn status_name(s: u32) -> String {
    match s {
        100 => "OK",
        200 => "RESERVATION_REFUSED",
        201 => "RESOURCE_LIMIT_EXCEEDED",
        202 => "PERMISSION_DENIED",
        203 => "CONNECTION_FAILED",
        204 => "NO_RESERVATION",
        400 => "MALFORMED_MESSAGE",
        401 => "UNEXPECTED_MESSAGE",
        _ => return s.to_string(),
    }
    .to_string()
}

async fn exchange(
    control: &mut Control,
    peer: PeerId,
    token: &str,
) -> Result<(u32, String), String> {
    let io = |what: &str, e: std::io::Error| format!("{what}: {}", errors::chain(&e));
    let mut s = control
        .open_stream(peer, AUTH)
        .await
        .map_err(|e| format!("open {AUTH}: {}", errors::chain(&e)))?;
    s.write_all(&request(token))
        .await
        .map_err(|e| io("write the request", e))?;
    s.flush().await.map_err(|e| io("write the request", e))?;
    let mut len = Vec::new();
    while len.last().is_none_or(|b| b & 0x80 != 0) {
        if len.len() == 10 {
            return Err("reply length is not a uvarint".into());
        }
        let mut b = [0u8];
        s.read_exact(&mut b)
            .await
            .map_err(|e| io("read the reply's length", e))?;
        len.push(b[0]);
    }
    let (n, _) = get_uvarint(&len).ok_or("reply length is not a uvarint")?;
    if n > MAX_REPLY {
        return Err(format!("reply of {n} bytes (at most {MAX_REPLY})"));
    }
    let mut body = vec![0u8; n as usize];
    s.read_exact(&mut body)
        .await
        .map_err(|e| io("read the reply", e))?;
    let _ = s.close().await;
    parse_response(&body)
}

/// One exchange with `peer` (10 s at most); prints authenticated or auth_failed and returns
/// whether the relay answered OK. A failure is reported, not fatal: the relay then refuses
/// RESERVE and CONNECT.
pub async fn authenticate(mut control: Control, peer: PeerId, token: String) -> bool {
    let r = tokio::time::timeout(
        Duration::from_secs(10),
        exchange(&mut control, peer, &token),
    )
    .await
    .unwrap_or_else(|_| Err("no reply within 10 s".into()));
    let mut ev = json!({"peer_id": peer.to_string()});
    let err = match r {
        Ok((status, text)) => {
            let name = status_name(status);
            ev["status"] = json!(name);
            ev["code"] = json!(status);
            ev["text"] = json!(text);
            if status == OK {
                ev["event"] = json!("authenticated");
                emit(ev);
                return true;
            }
            format!("the relay refused the token: {name} ({status}): {text}")
        }
        Err(e) => e,
    };
    ev["event"] = json!("auth_failed");
    ev["error"] = json!(err);
    emit(ev);
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_and_response() {
        assert_eq!(request("ab"), vec![4, 0x0a, 2, b'a', b'b']);
        let long = "x".repeat(200);
        let r = request(&long);
        assert_eq!(&r[..5], &[0xcb, 0x01, 0x0a, 0xc8, 0x01]);
        assert_eq!(
            parse_response(&[0x08, 0x64, 0x12, 2, b'o', b'k']),
            Ok((100, "ok".into()))
        );
        assert_eq!(
            parse_response(&[0x08, 0xca, 0x01]),
            Ok((202, String::new()))
        );
        assert_eq!(
            parse_response(&[0x18, 1, 0x08, 0x64]),
            Ok((100, String::new()))
        ); // unknown field
        assert!(parse_response(&[0x12, 5, b'x']).is_err()); // truncated
        assert!(parse_response(&[0x12, 0]).is_err()); // no status
    }
}
