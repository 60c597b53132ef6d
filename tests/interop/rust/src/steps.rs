//! The dialling peer's steps (--ping, --identify, --echo-bytes, --send) and the listening peer's
//! echo and sink services, on raw libp2p-stream streams.

use std::time::Duration;

use futures::{AsyncReadExt, AsyncWriteExt, StreamExt};
use libp2p::{identify, ping, PeerId, StreamProtocol};
use libp2p_stream::Control;
use serde_json::json;
use tokio::sync::mpsc::UnboundedReceiver;

use crate::{emit, errors, spr};

pub const ECHO: StreamProtocol = StreamProtocol::new("/mesh-relay/echo/1.0.0");
pub const SINK: StreamProtocol = StreamProtocol::new("/mesh-relay/sink/1.0.0");

/// What the swarm loop forwards from the connection the steps run on.
pub enum ConnEvent {
    Ping(Result<Duration, ping::Failure>),
    Identify(Box<identify::Info>),
    IdentifyError(String),
}

pub struct Steps {
    pub ping: u32,
    pub identify: bool,
    pub echo_bytes: Option<u64>,
    pub send: Option<u64>,
}

/// A step failed: the exit code and the text (already printed as an event where one applies).
pub struct Failed(pub i32);

fn fail(error: String) -> Failed {
    emit(json!({"event": "error", "error": error}));
    Failed(1)
}

/// xorshift64*: pseudo-random bytes, seeded from the clock (contents only need to be
/// unpredictable enough that a relay cannot pass a broken copy by accident).
struct Prng(u64);

impl Prng {
    fn new() -> Self {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x9e37_79b9_7f4a_7c15);
        Prng(t | 1)
    }
    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let mut x = self.0;
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            self.0 = x;
            let v = x.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

pub async fn run(
    steps: Steps,
    peer: PeerId,
    mut control: Control,
    mut conn_events: UnboundedReceiver<ConnEvent>,
) -> Result<(), Failed> {
    // Ping and identify run on their own (the libraries' behaviours ping and identify every
    // connection); the swarm loop forwards what they report for this connection.
    let mut pings_left = steps.ping;
    let mut identify_left = steps.identify;
    while pings_left > 0 || identify_left {
        match conn_events.recv().await {
            None => return Err(fail("connection gone before ping/identify finished".into())),
            Some(ConnEvent::Ping(Ok(rtt))) if pings_left > 0 => {
                pings_left -= 1;
                emit(json!({"event": "ping", "rtt_ms": (rtt.as_secs_f64() * 1e6).round() / 1e3}));
            }
            Some(ConnEvent::Ping(Err(e))) if pings_left > 0 => {
                return Err(fail(format!("ping: {}", errors::chain(&e))));
            }
            Some(ConnEvent::Identify(info)) if identify_left => {
                identify_left = false;
                let record = signed_peer_record(&info, peer, &mut control).await;
                let mut ev = json!({
                    "event": "identify",
                    "peer_id": info.public_key.to_peer_id().to_string(),
                    "agent": info.agent_version,
                    "protocol_version": info.protocol_version,
                    "protocols": info.protocols.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
                    "listen_addrs": info.listen_addrs.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
                    "observed_addr": info.observed_addr.to_string(),
                    "signed_peer_record": record.is_ok(),
                });
                match record {
                    Ok(Some(via)) => ev["signed_peer_record_via"] = json!(via),
                    Ok(None) => {}
                    Err(why) => ev["signed_peer_record_error"] = json!(why),
                }
                emit(ev);
            }
            Some(ConnEvent::IdentifyError(e)) if identify_left => {
                return Err(fail(format!("identify: {e}")));
            }
            Some(_) => {}
        }
    }

    if let Some(n) = steps.echo_bytes {
        let mut stream = control
            .open_stream(peer, ECHO)
            .await
            .map_err(|e| fail(format!("echo: {}", errors::chain(&e))))?;
        let mut data = vec![0u8; n as usize];
        Prng::new().fill(&mut data);
        let (mut rd, mut wr) = (&mut stream).split();
        let write = async {
            for chunk in data.chunks(64 * 1024) {
                wr.write_all(chunk).await?;
            }
            wr.close().await
        };
        let read = async {
            let mut back = Vec::with_capacity(n as usize);
            rd.read_to_end(&mut back).await.map(|_| back)
        };
        let (w, r) = futures::join!(write, read);
        w.map_err(|e| fail(format!("echo: write: {}", errors::chain(&e))))?;
        let back = r.map_err(|e| fail(format!("echo: read: {}", errors::chain(&e))))?;
        let ok = back == data;
        let mut ev = json!({"event": "echo", "bytes": n, "ok": ok});
        if !ok {
            ev["received"] = json!(back.len());
            if let Some(i) = back.iter().zip(&data).position(|(a, b)| a != b) {
                ev["first_difference_at"] = json!(i);
            }
        }
        emit(ev);
        if !ok {
            return Err(Failed(1));
        }
    }

    if let Some(n) = steps.send {
        let mut stream = control
            .open_stream(peer, SINK)
            .await
            .map_err(|e| fail(format!("send: {}", errors::chain(&e))))?;
        let mut buf = vec![0u8; 64 * 1024];
        let mut prng = Prng::new();
        let mut left = n;
        while left > 0 {
            let k = left.min(buf.len() as u64) as usize;
            prng.fill(&mut buf[..k]);
            stream
                .write_all(&buf[..k])
                .await
                .map_err(|e| fail(format!("send: write: {}", errors::chain(&e))))?;
            left -= k as u64;
        }
        stream
            .close()
            .await
            .map_err(|e| fail(format!("send: close: {}", errors::chain(&e))))?;
        let mut reply = Vec::new();
        stream
            .read_to_end(&mut reply)
            .await
            .map_err(|e| fail(format!("send: read count: {}", errors::chain(&e))))?;
        if reply.len() != 8 {
            return Err(fail(format!(
                "send: sink replied {} bytes, not 8",
                reply.len()
            )));
        }
        let count = u64::from_be_bytes(reply[..8].try_into().unwrap());
        let ok = count == n;
        emit(json!({"event": "sent", "bytes": n, "count": count, "ok": ok}));
        if !ok {
            return Err(Failed(1));
        }
    }
    Ok(())
}

/// Whether the identified peer's signed peer record is accepted: Ok(None) when rust-libp2p's
/// identify accepted it (it keeps the envelope only when it verified it and it was signed by the
/// identified peer: libp2p-identify 0.48.0 src/protocol.rs, `TryFrom<proto::Identify>`);
/// Ok(Some(via)) when identify dropped it but libp2p-core's interop API accepts the record of a
/// raw identify exchange (crate::spr); Err(why) when neither does.
async fn signed_peer_record(
    info: &identify::Info,
    peer: PeerId,
    control: &mut Control,
) -> Result<Option<&'static str>, String> {
    if info.signed_peer_record.is_some() {
        return Ok(None);
    }
    let raw = spr::fetch(control, peer).await?;
    let record = raw
        .signed_peer_record
        .as_ref()
        .ok_or("the identify message has no signedPeerRecord")?;
    spr::check_interop(record, peer, &raw.listen_addrs)?;
    Ok(Some(spr::VIA_INTEROP))
}

/// Serve /mesh-relay/echo/1.0.0 and /mesh-relay/sink/1.0.0 on every connection.
pub fn serve(control: &mut Control) {
    let mut echo = control.accept(ECHO).expect("echo registered once");
    let mut sink = control.accept(SINK).expect("sink registered once");
    tokio::spawn(async move {
        while let Some((peer, stream)) = echo.next().await {
            tokio::spawn(async move {
                let (mut rd, mut wr) = stream.split();
                let r = async {
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        let k = rd.read(&mut buf).await?;
                        if k == 0 {
                            break;
                        }
                        wr.write_all(&buf[..k]).await?;
                    }
                    wr.close().await
                }
                .await;
                if let Err(e) = r {
                    diag!("echo stream from {peer}: {}", errors::chain(&e));
                }
            });
        }
    });
    tokio::spawn(async move {
        while let Some((peer, mut stream)) = sink.next().await {
            tokio::spawn(async move {
                let r = async {
                    let mut buf = vec![0u8; 64 * 1024];
                    let mut count: u64 = 0;
                    loop {
                        let k = stream.read(&mut buf).await?;
                        if k == 0 {
                            break;
                        }
                        count += k as u64;
                    }
                    stream.write_all(&count.to_be_bytes()).await?;
                    stream.close().await
                }
                .await;
                if let Err(e) = r {
                    diag!("sink stream from {peer}: {}", errors::chain(&e));
                }
            });
        }
    });
}
