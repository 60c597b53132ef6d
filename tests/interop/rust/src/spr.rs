//! The identified peer's signed peer record, checked beside the library's identify.
//!
//! libp2p-identify 0.48.0 (src/protocol.rs, `TryFrom<proto::Identify> for Info`) verifies a
//! `signedPeerRecord` only with `PeerRecord::from_signed_envelope`, i.e. rust's legacy domain
//! "libp2p-routing-state" and payload type "/libp2p/routing-state-record", and silently drops
//! the standard record (domain "libp2p-peer-record", payload type 0x0301) that go, js and the
//! relay send (rust-libp2p issue #6204). libp2p-core 0.44.0 can verify the standard one
//! (`PeerRecord::from_signed_envelope_interop`), so the peer fetches the raw identify message
//! itself (an outbound `/ipfs/id/1.0.0` stream over libp2p-stream), takes field 8 and checks it
//! with that API.

use std::time::Duration;

use futures::AsyncReadExt;
use libp2p::{
    core::{PeerRecord, SignedEnvelope},
    Multiaddr, PeerId, StreamProtocol,
};
use libp2p_stream::Control;

use crate::errors;

pub const IDENTIFY: StreamProtocol = StreamProtocol::new("/ipfs/id/1.0.0");

/// What `signed_peer_record_via` says when the record was accepted only by libp2p-core.
pub const VIA_INTEROP: &str =
    "libp2p-core from_signed_envelope_interop (identify 0.48 drops standard records, rust-libp2p #6204)";

/// Largest identify message read (rust's own limit is 4 KiB; this leaves room).
const MAX_MESSAGE: usize = 64 * 1024;

/// The fields of an Identify message (libp2p identify spec) this peer needs.
#[derive(Debug, Default, PartialEq)]
pub struct RawIdentify {
    /// Field 2, `repeated bytes listenAddrs`.
    pub listen_addrs: Vec<Vec<u8>>,
    /// Field 8, `optional bytes signedPeerRecord` (the last one wins, as in protobuf).
    pub signed_peer_record: Option<Vec<u8>>,
}

fn read_varint(buf: &[u8], pos: &mut usize) -> Result<u64, String> {
    let mut v: u64 = 0;
    for i in 0..10 {
        let b = *buf.get(*pos).ok_or("truncated varint")?;
        *pos += 1;
        v |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err("varint longer than 10 bytes".into())
}

fn take<'a>(buf: &'a [u8], pos: &mut usize, n: u64) -> Result<&'a [u8], String> {
    let end = usize::try_from(n)
        .ok()
        .and_then(|n| pos.checked_add(n))
        .filter(|&e| e <= buf.len())
        .ok_or_else(|| format!("field of {n} bytes runs past the message's end"))?;
    let s = &buf[*pos..end];
    *pos = end;
    Ok(s)
}

/// Decode an Identify protobuf message (without its length prefix), keeping fields 2 and 8 and
/// skipping the rest by wire type.
pub fn decode_identify(msg: &[u8]) -> Result<RawIdentify, String> {
    let mut out = RawIdentify::default();
    let mut pos = 0;
    while pos < msg.len() {
        let key = read_varint(msg, &mut pos)?;
        let (field, wire) = (key >> 3, key & 7);
        match wire {
            0 => {
                read_varint(msg, &mut pos)?;
            }
            1 => {
                take(msg, &mut pos, 8)?;
            }
            2 => {
                let n = read_varint(msg, &mut pos)?;
                let bytes = take(msg, &mut pos, n)?;
                match field {
                    2 => out.listen_addrs.push(bytes.to_vec()),
                    8 => out.signed_peer_record = Some(bytes.to_vec()),
                    _ => {}
                }
            }
            5 => {
                take(msg, &mut pos, 4)?;
            }
            w => return Err(format!("field {field}: unsupported wire type {w}")),
        }
    }
    Ok(out)
}

/// Split one varint-length-prefixed message off `buf`; it must be all of `buf`.
pub fn unframe(buf: &[u8]) -> Result<&[u8], String> {
    let mut pos = 0;
    let n = read_varint(buf, &mut pos)?;
    let msg = take(buf, &mut pos, n)?;
    if pos != buf.len() {
        return Err(format!(
            "{} bytes after the identify message",
            buf.len() - pos
        ));
    }
    Ok(msg)
}

/// Open `/ipfs/id/1.0.0` to `peer`, read its one identify message up to EOF, decode it.
pub async fn fetch(control: &mut Control, peer: PeerId) -> Result<RawIdentify, String> {
    let read = async {
        let stream = control
            .open_stream(peer, IDENTIFY)
            .await
            .map_err(|e| format!("open {IDENTIFY}: {}", errors::chain(&e)))?;
        let mut buf = Vec::new();
        stream
            .take(MAX_MESSAGE as u64 + 1)
            .read_to_end(&mut buf)
            .await
            .map_err(|e| format!("read {IDENTIFY}: {}", errors::chain(&e)))?;
        if buf.len() > MAX_MESSAGE {
            return Err(format!("identify message longer than {MAX_MESSAGE} bytes"));
        }
        decode_identify(unframe(&buf)?)
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .map_err(|_| format!("{IDENTIFY}: no complete message in 10 s"))?
}

/// Check a standard (interop) signed peer record: a valid envelope signed by `peer`'s key, whose
/// addresses are exactly `listen_addrs` (in any order). The record's sequence number on success.
pub fn check_interop(record: &[u8], peer: PeerId, listen_addrs: &[Vec<u8>]) -> Result<u64, String> {
    let envelope = SignedEnvelope::from_protobuf_encoding(record)
        .map_err(|e| format!("envelope: {}", errors::chain(&e)))?;
    let rec = PeerRecord::from_signed_envelope_interop(envelope)
        .map_err(|e| format!("from_signed_envelope_interop: {}", errors::chain(&e)))?;
    if rec.peer_id() != peer {
        return Err(format!(
            "record of {} (signed by its key), not of {peer}",
            rec.peer_id()
        ));
    }
    let listen: Vec<Multiaddr> = listen_addrs
        .iter()
        .map(|b| Multiaddr::try_from(b.clone()).map_err(|e| format!("listenAddrs: {e}")))
        .collect::<Result<_, _>>()?;
    let mut a: Vec<Vec<u8>> = rec.addresses().iter().map(|m| m.to_vec()).collect();
    let mut b: Vec<Vec<u8>> = listen.iter().map(|m| m.to_vec()).collect();
    a.sort();
    b.sort();
    if a != b {
        return Err(format!(
            "record addresses {:?} differ from identify listenAddrs {:?}",
            rec.addresses()
                .iter()
                .map(|m| m.to_string())
                .collect::<Vec<_>>(),
            listen.iter().map(|m| m.to_string()).collect::<Vec<_>>()
        ));
    }
    Ok(rec.seq())
}

#[cfg(test)]
mod tests {
    use super::*;
    use libp2p::identity::Keypair;

    fn put_varint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    fn put_bytes(out: &mut Vec<u8>, field: u64, b: &[u8]) {
        put_varint(out, field << 3 | 2);
        put_varint(out, b.len() as u64);
        out.extend_from_slice(b);
    }

    fn addrs() -> Vec<Multiaddr> {
        vec![
            "/ip4/127.0.0.1/tcp/4001".parse().unwrap(),
            "/ip4/127.0.0.1/udp/4001/quic-v1".parse().unwrap(),
        ]
    }

    /// An identify message as a peer sends it: protocolVersion, listenAddrs, a varint field the
    /// decoder must skip, the record, then the length prefix.
    fn message(listen: &[Multiaddr], record: Option<&[u8]>) -> Vec<u8> {
        let mut m = Vec::new();
        put_bytes(&mut m, 5, b"ipfs/0.1.0");
        for a in listen {
            put_bytes(&mut m, 2, &a.to_vec());
        }
        put_varint(&mut m, 99 << 3); // unknown varint field
        put_varint(&mut m, 300);
        if let Some(r) = record {
            put_bytes(&mut m, 8, r);
        }
        let mut framed = Vec::new();
        put_varint(&mut framed, m.len() as u64);
        framed.extend(m);
        framed
    }

    fn decoded(framed: &[u8]) -> RawIdentify {
        decode_identify(unframe(framed).unwrap()).unwrap()
    }

    #[test]
    fn standard_record_accepted() {
        let key = Keypair::generate_ed25519();
        let rec = PeerRecord::new_interop(&key, addrs()).unwrap();
        let enc = rec.into_signed_envelope().into_protobuf_encoding();
        let mut listen = addrs();
        listen.reverse(); // order does not matter
        let raw = decoded(&message(&listen, Some(&enc)));
        assert_eq!(raw.listen_addrs.len(), 2);
        let seq = check_interop(
            raw.signed_peer_record.as_ref().unwrap(),
            key.public().to_peer_id(),
            &raw.listen_addrs,
        );
        assert!(seq.is_ok(), "{seq:?}");
    }

    #[test]
    fn corrupt_record_refused() {
        let key = Keypair::generate_ed25519();
        let rec = PeerRecord::new_interop(&key, addrs()).unwrap();
        let mut enc = rec.into_signed_envelope().into_protobuf_encoding();
        let last = enc.len() - 1; // the signature is the envelope's last field
        enc[last] ^= 1;
        let raw = decoded(&message(&addrs(), Some(&enc)));
        let r = check_interop(
            raw.signed_peer_record.as_ref().unwrap(),
            key.public().to_peer_id(),
            &raw.listen_addrs,
        );
        assert!(r.is_err(), "a flipped signature bit was accepted");
    }

    #[test]
    fn legacy_record_refused_by_interop_api() {
        let key = Keypair::generate_ed25519();
        let enc = PeerRecord::new(&key, addrs())
            .unwrap()
            .into_signed_envelope()
            .into_protobuf_encoding();
        let r = check_interop(&enc, key.public().to_peer_id(), &encode(&addrs()));
        assert!(
            r.is_err(),
            "a legacy-domain record passed the interop check"
        );
    }

    #[test]
    fn wrong_peer_or_addresses_refused() {
        let key = Keypair::generate_ed25519();
        let enc = PeerRecord::new_interop(&key, addrs())
            .unwrap()
            .into_signed_envelope()
            .into_protobuf_encoding();
        let other = Keypair::generate_ed25519().public().to_peer_id();
        assert!(check_interop(&enc, other, &encode(&addrs())).is_err());
        let fewer = &addrs()[..1];
        let r = check_interop(&enc, key.public().to_peer_id(), &encode(fewer));
        assert!(
            r.is_err(),
            "addresses differing from listenAddrs were accepted"
        );
    }

    #[test]
    fn malformed_messages_refused() {
        let framed = message(&addrs(), Some(b"x"));
        assert!(unframe(&framed[..framed.len() - 1]).is_err());
        let mut extra = framed.clone();
        extra.push(0);
        assert!(unframe(&extra).is_err());
        assert!(decode_identify(&[0x0b]).is_err()); // wire type 3 (group)
        assert!(decode_identify(&[0x42, 0x05, 1]).is_err()); // length past the end
        let raw = decoded(&message(&addrs(), None));
        assert_eq!(raw.signed_peer_record, None);
    }

    fn encode(a: &[Multiaddr]) -> Vec<Vec<u8>> {
        a.iter().map(|m| m.to_vec()).collect()
    }
}
