//! rust-libp2p interop test peer for Mesh Relay: the command line and JSON events of
//! tests/interop/PEERS.md. One JSON object per line on stdout; diagnostics on stderr.

/// A diagnostic line on stderr; a closed stderr is ignored (eprintln! would panic).
macro_rules! diag {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($t)*);
    }};
}

mod auth;
mod cli;
mod errors;
mod spr;
mod steps;

use std::{
    collections::HashMap,
    io::Write,
    time::{Duration, Instant},
};

use futures::StreamExt;
use libp2p::{
    core::ConnectedPoint,
    dcutr, identify, identity,
    multiaddr::Protocol,
    noise, ping, relay,
    swarm::{behaviour::toggle::Toggle, ConnectionId, NetworkBehaviour, SwarmEvent},
    tcp, yamux, Multiaddr, PeerId, Swarm,
};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use cli::{Args, DialTarget};
use steps::ConnEvent;

/// The libp2p crate version, read from Cargo.lock by build.rs.
const LIBP2P_VERSION: &str = env!("RUST_PEER_LIBP2P_VERSION");

/// Print one event line on stdout and flush it (the harness reads lines as they come).
pub fn emit(v: Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{v}");
    let _ = out.flush();
}

#[derive(NetworkBehaviour)]
struct Behaviour {
    relay_client: relay::client::Behaviour,
    ping: ping::Behaviour,
    identify: identify::Behaviour,
    dcutr: Toggle<dcutr::Behaviour>,
    stream: libp2p_stream::Behaviour,
}

fn is_relayed(endpoint: &ConnectedPoint) -> bool {
    let addr = match endpoint {
        ConnectedPoint::Dialer { address, .. } => address,
        ConnectedPoint::Listener { local_addr, .. } => local_addr,
    };
    addr.iter().any(|p| p == Protocol::P2pCircuit)
}

/// The peer's address on this connection (a relayed inbound one: the circuit address).
fn remote_addr(endpoint: &ConnectedPoint, peer: &PeerId) -> Multiaddr {
    match endpoint {
        ConnectedPoint::Dialer { address, .. } => address.clone(),
        ConnectedPoint::Listener {
            local_addr,
            send_back_addr,
        } => {
            if local_addr.iter().any(|p| p == Protocol::P2pCircuit) {
                local_addr.clone().with(Protocol::P2p(*peer))
            } else {
                send_back_addr.clone()
            }
        }
    }
}

/// A relay limit as (duration in s, data in bytes). libp2p-relay's `Limit` type cannot be named
/// outside the crate (it lives in a private module), so it is converted where the event comes.
type Limit = Option<(Option<u64>, Option<u64>)>;

macro_rules! limit_of {
    ($l:expr) => {
        $l.map(|l| (l.duration().map(|d| d.as_secs()), l.data_in_bytes()))
    };
}

fn limit_fields(ev: &mut Value, limit: &Limit) {
    if let Some((d, b)) = limit {
        if let Some(d) = d {
            ev["limit_duration"] = json!(d);
        }
        if let Some(b) = b {
            ev["limit_data"] = json!(b);
        }
    }
}

/// A reservation accepted by the relay client; printed once the listener has reported the
/// circuit addresses it will advertise (they arrive as NewListenAddr right after).
struct PendingReserved {
    relay: PeerId,
    renewal: bool,
    limit: Limit,
    accepted_at: Instant,
}

struct Peer {
    args: Args,
    swarm: Swarm<Behaviour>,
    local: PeerId,
    /// Established connections: when, to whom, relayed or not.
    conns: HashMap<ConnectionId, (Instant, PeerId, bool, Multiaddr)>,
    // listening
    relay_listener: Option<libp2p::core::transport::ListenerId>,
    circuit_addrs: Vec<(Instant, Multiaddr)>,
    pending_reserved: Option<PendingReserved>,
    ever_reserved: bool,
    reconnect_at: Option<Instant>,
    // dialling
    target: Option<PeerId>,
    target_conn: Option<ConnectionId>,
    relayed_conn: Option<ConnectionId>,
    circuit_limit: Option<Limit>,
    circuit_printed: bool,
    direct_deadline: Option<Instant>,
    closing_relayed: bool,
    steps_started: bool,
    holding: bool,
    conn_tx: mpsc::UnboundedSender<ConnEvent>,
    conn_rx: Option<mpsc::UnboundedReceiver<ConnEvent>>,
    steps_done_tx: mpsc::UnboundedSender<Result<(), steps::Failed>>,
    /// --holepunch: connected to the relay first, waiting (until this instant) for identify's
    /// first external address candidate before dialling or listening through it.
    candidate_deadline: Option<Instant>,
    /// --auth-token: the relay was dialled on its own; once connected, authenticate on it
    /// (auth_running), then go on (listen or dial through it).
    awaiting_relay_conn: bool,
    auth_running: bool,
    go_on_pending: bool,
    auth_done_tx: mpsc::UnboundedSender<bool>,
}

/// How the run ends.
enum Exit {
    Code(i32),
}

impl Peer {
    fn relay_circuit_listen_addr(&self) -> Option<Multiaddr> {
        self.args
            .relay
            .as_ref()
            .map(|(addr, _)| addr.clone().with(Protocol::P2pCircuit))
    }

    fn listen_via_relay(&mut self) {
        let addr = self.relay_circuit_listen_addr().expect("--relay given");
        match self.swarm.listen_on(addr.clone()) {
            Ok(id) => self.relay_listener = Some(id),
            Err(e) => {
                emit(
                    json!({"event": "error", "error": format!("listen_on {addr}: {}", errors::chain(&e))}),
                );
                if self.args.reconnect {
                    self.reconnect_at = Some(Instant::now() + Duration::from_secs(1));
                }
            }
        }
    }

    fn start_steps(&mut self, conn: ConnectionId) {
        if self.steps_started {
            return;
        }
        self.steps_started = true;
        self.target_conn = Some(conn);
        let s = steps::Steps {
            ping: self.args.ping,
            identify: self.args.identify,
            echo_bytes: self.args.echo_bytes,
            send: self.args.send,
        };
        let peer = self.target.expect("dialling");
        let control = self.swarm.behaviour().stream.new_control();
        let rx = self.conn_rx.take().expect("steps start once");
        let done = self.steps_done_tx.clone();
        tokio::spawn(async move {
            let r = steps::run(s, peer, control, rx).await;
            let _ = done.send(r);
        });
    }

    fn maybe_print_circuit(&mut self) {
        if self.circuit_printed {
            return;
        }
        let (Some(conn), Some(limit)) = (self.relayed_conn, self.circuit_limit.as_ref()) else {
            return;
        };
        let Some((_, peer, _, _)) = self.conns.get(&conn) else {
            return;
        };
        let mut ev = json!({
            "event": "circuit",
            "peer_id": peer.to_string(),
            "addr": self.dial_addr().map(|a| a.to_string()),
        });
        limit_fields(&mut ev, limit);
        emit(ev);
        self.circuit_printed = true;
    }

    fn dial_addr(&self) -> Option<Multiaddr> {
        match &self.args.dial {
            Some(DialTarget::Relayed(p)) => self
                .relay_circuit_listen_addr()
                .map(|a| a.with(Protocol::P2p(*p))),
            Some(DialTarget::Direct(a, _)) => Some(a.clone()),
            None => None,
        }
    }

    fn emit_direct(&self, peer: PeerId, conn: ConnectionId, addr: Option<Multiaddr>) {
        let _ = conn;
        let mut ev = json!({"event": "direct", "peer_id": peer.to_string()});
        if let Some(a) = addr {
            ev["addr"] = json!(a.to_string());
        }
        emit(ev);
    }

    /// A direct connection to the dialled peer is up while waiting for one (--holepunch):
    /// print `direct`, drop the relayed connection so that the steps (libp2p-stream picks any
    /// connection to the peer) run on the direct one, and start them once it is gone.
    fn on_direct(&mut self, conn: ConnectionId, addr: Option<Multiaddr>) {
        if self.direct_deadline.is_none() {
            return;
        }
        self.direct_deadline = None;
        let peer = self.target.expect("dialling");
        self.emit_direct(peer, conn, addr);
        self.target_conn = Some(conn);
        match self.relayed_conn {
            Some(r) if self.conns.contains_key(&r) => {
                self.closing_relayed = true;
                self.swarm.close_connection(r);
            }
            _ => self.start_steps(conn),
        }
    }

    fn relay_id(&self) -> Option<PeerId> {
        self.args.relay.as_ref().map(|(_, id)| *id)
    }

    /// Dial the relay on its own first (--holepunch: for identify's address candidates;
    /// --auth-token: to authenticate before RESERVE or CONNECT); go_on follows when both are done.
    fn dial_relay_first(&mut self) -> Option<Exit> {
        let (addr, _) = self.args.relay.clone().expect("--relay given");
        if let Err(e) = self.swarm.dial(addr) {
            let (text, _) = errors::dial_error(&e);
            emit(json!({"event": "dial_failed", "error": text}));
            return self.relay_dial_failed();
        }
        self.go_on_pending = true;
        self.awaiting_relay_conn = self.args.auth_token.is_some();
        None
    }

    /// The relay could not be dialled before going on: retry (--reconnect, listening) or exit 1.
    fn relay_dial_failed(&mut self) -> Option<Exit> {
        self.awaiting_relay_conn = false;
        self.go_on_pending = false;
        if self.args.reconnect && self.args.dial.is_none() {
            self.reconnect_at = Some(Instant::now() + Duration::from_secs(1));
            return None;
        }
        Some(Exit::Code(1))
    }

    fn maybe_go_on(&mut self) -> Option<Exit> {
        if self.go_on_pending
            && self.candidate_deadline.is_none()
            && !self.awaiting_relay_conn
            && !self.auth_running
        {
            self.go_on_pending = false;
            return self.go_on();
        }
        None
    }

    /// Dial the target (through the relay or directly) or listen through the relay, as the
    /// command line asks.
    fn go_on(&mut self) -> Option<Exit> {
        match self.dial_addr() {
            Some(addr) => {
                if let Err(e) = self.swarm.dial(addr.clone()) {
                    let (text, status) = errors::dial_error(&e);
                    let mut ev = json!({"event": "dial_failed", "error": text});
                    if let Some(s) = &status {
                        ev["status"] = json!(s);
                    }
                    emit(ev);
                    return Some(Exit::Code(if status.is_some() { 4 } else { 1 }));
                }
            }
            None => self.listen_via_relay(),
        }
        None
    }

    fn handle(&mut self, event: SwarmEvent<BehaviourEvent>) -> Option<Exit> {
        match event {
            // libp2p-dcutr hands a relayed connection the address candidates known when it is
            // set up (libp2p-dcutr 0.15 behaviour.rs): with none yet (identify with the relay not
            // done), the hole punch fails with NoAddresses. A long-running node has them long
            // before; so --holepunch waits for the first one (the relay's observed address).
            SwarmEvent::NewExternalAddrCandidate { address } => {
                diag!("external address candidate {address}");
                if self.candidate_deadline.take().is_some() {
                    return self.maybe_go_on();
                }
            }
            SwarmEvent::NewListenAddr { address, .. } => {
                if address.iter().any(|p| p == Protocol::P2pCircuit) {
                    self.circuit_addrs.push((Instant::now(), address));
                } else {
                    emit(json!({"event": "listen_addr", "addr": address.to_string()}));
                }
            }
            SwarmEvent::ConnectionEstablished {
                peer_id,
                connection_id,
                endpoint,
                ..
            } => {
                let relayed = is_relayed(&endpoint);
                let addr = remote_addr(&endpoint, &peer_id);
                self.conns.insert(
                    connection_id,
                    (Instant::now(), peer_id, relayed, addr.clone()),
                );
                emit(json!({
                    "event": "connected",
                    "peer_id": peer_id.to_string(),
                    "addr": addr.to_string(),
                    "relayed": relayed,
                }));
                if self.awaiting_relay_conn && !relayed && Some(peer_id) == self.relay_id() {
                    self.awaiting_relay_conn = false;
                    self.auth_running = true;
                    let control = self.swarm.behaviour().stream.new_control();
                    let token = self.args.auth_token.clone().expect("--auth-token");
                    let done = self.auth_done_tx.clone();
                    tokio::spawn(async move {
                        let ok = auth::authenticate(control, peer_id, token).await;
                        let _ = done.send(ok);
                    });
                }
                if Some(peer_id) == self.target {
                    if relayed && self.relayed_conn.is_none() {
                        self.relayed_conn = Some(connection_id);
                        self.maybe_print_circuit();
                        if self.args.holepunch {
                            self.direct_deadline = Some(Instant::now() + self.args.direct_timeout);
                        } else {
                            self.start_steps(connection_id);
                        }
                    } else if !relayed {
                        if self.direct_deadline.is_some() {
                            self.on_direct(connection_id, Some(addr));
                        } else if !self.args.holepunch {
                            self.start_steps(connection_id);
                        }
                    }
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                connection_id,
                endpoint,
                cause,
                ..
            } => {
                let (since, relayed) = self
                    .conns
                    .remove(&connection_id)
                    .map(|(t, _, r, _)| (t, r))
                    .unwrap_or((Instant::now(), is_relayed(&endpoint)));
                let mut ev = json!({
                    "event": "closed",
                    "peer_id": peer_id.to_string(),
                    "relayed": relayed,
                    "after_ms": since.elapsed().as_millis() as u64,
                });
                if let Some(c) = &cause {
                    ev["reason"] = json!(errors::chain(c));
                }
                emit(ev);
                if self.closing_relayed && Some(connection_id) == self.relayed_conn {
                    self.closing_relayed = false;
                    if let Some(c) = self.target_conn {
                        self.start_steps(c);
                    }
                } else if Some(connection_id) == self.target_conn {
                    if self.holding {
                        return Some(Exit::Code(0));
                    }
                    emit(
                        json!({"event": "error", "error": "connection to the peer closed before the steps finished"}),
                    );
                    return Some(Exit::Code(1));
                } else if Some(connection_id) == self.relayed_conn && self.direct_deadline.is_some()
                {
                    emit(
                        json!({"event": "error", "error": "relayed connection closed while waiting for a direct one"}),
                    );
                    return Some(Exit::Code(1));
                }
            }
            SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => {
                let (text, status) = errors::dial_error(&error);
                let mut ev = json!({"event": "dial_failed", "error": text});
                if let Some(p) = peer_id {
                    ev["peer_id"] = json!(p.to_string());
                }
                if let Some(s) = &status {
                    ev["status"] = json!(s);
                }
                emit(ev);
                if self.awaiting_relay_conn && peer_id.is_some() && peer_id == self.relay_id() {
                    return self.relay_dial_failed();
                }
                if self.target.is_some()
                    && peer_id == self.target
                    && self.target_conn.is_none()
                    && self.relayed_conn.is_none()
                {
                    return Some(Exit::Code(if status.is_some() { 4 } else { 1 }));
                }
            }
            SwarmEvent::ListenerClosed {
                listener_id,
                reason,
                ..
            } => {
                if Some(listener_id) == self.relay_listener {
                    self.relay_listener = None;
                    self.pending_reserved = None;
                    let mut code = 1;
                    match &reason {
                        Err(e) => {
                            let status = errors::relay_status(e);
                            let mut ev =
                                json!({"event": "reservation_failed", "error": errors::chain(e)});
                            if let Some(s) = &status {
                                ev["status"] = json!(s);
                                code = 4;
                            }
                            emit(ev);
                        }
                        Ok(()) => diag!("relay listener closed (relay connection gone)"),
                    }
                    if self.args.reconnect {
                        self.reconnect_at = Some(Instant::now() + Duration::from_secs(1));
                    } else if self.args.reserve_only || reason.is_err() || !self.ever_reserved {
                        if reason.is_ok() {
                            emit(
                                json!({"event": "error", "error": "relay listener closed before a reservation was made"}),
                            );
                        }
                        return Some(Exit::Code(code));
                    }
                }
            }
            SwarmEvent::ListenerError { error, .. } => {
                emit(
                    json!({"event": "error", "error": format!("listener: {}", errors::chain(&error))}),
                );
            }
            SwarmEvent::Behaviour(BehaviourEvent::RelayClient(ev)) => match ev {
                relay::client::Event::ReservationReqAccepted {
                    relay_peer_id,
                    renewal,
                    limit,
                } => {
                    if !renewal || self.args.refresh_log {
                        self.pending_reserved = Some(PendingReserved {
                            relay: relay_peer_id,
                            renewal,
                            limit: limit_of!(limit),
                            accepted_at: Instant::now(),
                        });
                    }
                }
                relay::client::Event::OutboundCircuitEstablished { limit, .. } => {
                    self.circuit_limit = Some(limit_of!(limit));
                    self.maybe_print_circuit();
                }
                relay::client::Event::InboundCircuitEstablished { src_peer_id, limit } => {
                    let mut ev = json!({"event": "incoming", "peer_id": src_peer_id.to_string()});
                    if let Some(a) = self.relay_circuit_listen_addr() {
                        ev["addr"] = json!(a.with(Protocol::P2p(src_peer_id)).to_string());
                    }
                    limit_fields(&mut ev, &limit_of!(limit));
                    emit(ev);
                }
            },
            SwarmEvent::Behaviour(BehaviourEvent::Ping(ping::Event {
                connection, result, ..
            })) => {
                if Some(connection) == self.target_conn {
                    let _ = self.conn_tx.send(ConnEvent::Ping(result));
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Identify(ev)) => match ev {
                identify::Event::Received {
                    connection_id,
                    info,
                    ..
                } if Some(connection_id) == self.target_conn => {
                    let _ = self.conn_tx.send(ConnEvent::Identify(Box::new(info)));
                }
                identify::Event::Error {
                    connection_id,
                    error,
                    ..
                } if Some(connection_id) == self.target_conn => {
                    let _ = self
                        .conn_tx
                        .send(ConnEvent::IdentifyError(errors::chain(&error)));
                }
                _ => {}
            },
            SwarmEvent::Behaviour(BehaviourEvent::Dcutr(dcutr::Event {
                remote_peer_id,
                result,
            })) => match result {
                Ok(conn) => {
                    diag!("dcutr: direct connection to {remote_peer_id} ({conn:?})");
                    let addr = self.conns.get(&conn).map(|c| c.3.clone());
                    if Some(remote_peer_id) == self.target && self.direct_deadline.is_some() {
                        self.on_direct(conn, addr);
                    } else if self.target.is_none() {
                        self.emit_direct(remote_peer_id, conn, addr);
                    }
                }
                Err(e) => emit(json!({
                    "event": "holepunch_failed",
                    "peer_id": remote_peer_id.to_string(),
                    "error": errors::chain(&e),
                })),
            },
            _ => {}
        }
        None
    }

    /// Timers: the reservation print, the reconnect, the direct-connection deadline.
    fn tick(&mut self) -> Option<Exit> {
        let now = Instant::now();
        if self.candidate_deadline.is_some_and(|d| now >= d) {
            self.candidate_deadline = None;
            diag!("no external address candidate within 10 s: going on without");
            if let Some(exit) = self.maybe_go_on() {
                return Some(exit);
            }
        }
        if let Some(p) = &self.pending_reserved {
            if now.duration_since(p.accepted_at) >= Duration::from_millis(200) {
                let p = self.pending_reserved.take().unwrap();
                let from = p
                    .accepted_at
                    .checked_sub(Duration::from_secs(1))
                    .unwrap_or(p.accepted_at);
                let mut addrs: Vec<String> = Vec::new();
                for (t, a) in &self.circuit_addrs {
                    let s = a.to_string();
                    if *t >= from && !addrs.contains(&s) {
                        addrs.push(s);
                    }
                }
                self.circuit_addrs.retain(|(t, _)| *t >= from);
                let mut ev = json!({
                    "event": "reserved",
                    "relay": p.relay.to_string(),
                    "addrs": addrs,
                    "renewal": p.renewal,
                });
                limit_fields(&mut ev, &p.limit);
                emit(ev);
                if !p.renewal {
                    if !self.ever_reserved {
                        for a in self.args.dial_after_reserve.clone() {
                            if let Err(e) = self.swarm.dial(a.clone()) {
                                let (text, _) = errors::dial_error(&e);
                                emit(
                                    json!({"event": "dial_failed", "error": format!("{a}: {text}")}),
                                );
                            }
                        }
                    }
                    self.ever_reserved = true;
                    if let Some(a) = self.relay_circuit_listen_addr() {
                        emit(
                            json!({"event": "listening", "addr": a.with(Protocol::P2p(self.local)).to_string()}),
                        );
                    }
                }
                if self.args.reserve_only {
                    return Some(Exit::Code(0));
                }
            }
        }
        if let Some(t) = self.reconnect_at {
            if now >= t {
                self.reconnect_at = None;
                let relay = self.relay_id().expect("--relay given");
                let idle = self.relay_listener.is_none() && !self.go_on_pending;
                if idle && self.args.auth_token.is_some() && !self.swarm.is_connected(&relay) {
                    // a new relay connection: authenticate on it before the RESERVE
                    diag!("reconnect: dialling the relay, to authenticate first");
                    if let Some(exit) = self.dial_relay_first() {
                        return Some(exit);
                    }
                } else if idle {
                    diag!("reconnect: listening through the relay again");
                    self.listen_via_relay();
                }
            }
        }
        if let Some(t) = self.direct_deadline {
            if now >= t {
                emit(
                    json!({"event": "error", "error": format!("no direct connection within {} s", self.args.direct_timeout.as_secs_f64())}),
                );
                return Some(Exit::Code(1));
            }
        }
        None
    }
}

fn build_swarm(key: identity::Keypair, args: &Args) -> Result<Swarm<Behaviour>, String> {
    let ping_interval = if args.ping > 0 {
        Duration::from_secs(1)
    } else {
        Duration::from_secs(15)
    };
    let holepunch = args.holepunch;
    let swarm = libp2p::SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(|e| format!("tcp transport: {e}"))?
        .with_quic()
        .with_relay_client(noise::Config::new, yamux::Config::default)
        .map_err(|e| format!("relay client transport: {e}"))?
        .with_behaviour(|key, relay_client| Behaviour {
            relay_client,
            ping: ping::Behaviour::new(ping::Config::new().with_interval(ping_interval)),
            identify: identify::Behaviour::new(
                identify::Config::new_with_signed_peer_record(
                    "/mesh-relay/interop/1.0.0".into(),
                    key,
                )
                .with_agent_version(format!(
                    "mesh-relay-rust-peer/{} rust-libp2p/{LIBP2P_VERSION}",
                    env!("CARGO_PKG_VERSION")
                )),
            ),
            dcutr: Toggle::from(
                holepunch.then(|| dcutr::Behaviour::new(key.public().to_peer_id())),
            ),
            stream: libp2p_stream::Behaviour::new(),
        })
        .map_err(|e| format!("behaviour: {e}"))?
        // Relay connections and relayed ones must stay up while the peer waits (listening, or
        // --hold): the relay client keeps its reservation's connection alive, the rest would idle
        // out after this.
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(3600)))
        .build();
    Ok(swarm)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let args = match cli::parse(&argv) {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                diag!("rust-peer: {e}");
            }
            diag!("{}", cli::USAGE);
            std::process::exit(if e.is_empty() { 0 } else { 2 });
        }
    };
    let code = run(args).await;
    std::process::exit(code);
}

async fn run(args: Args) -> i32 {
    let key = match &args.identity {
        None => identity::Keypair::generate_ed25519(),
        Some(f) => match std::fs::read(f)
            .map_err(|e| e.to_string())
            .and_then(|b| identity::Keypair::from_protobuf_encoding(&b).map_err(|e| e.to_string()))
        {
            Ok(k) => k,
            Err(e) => {
                diag!("rust-peer: --identity {f}: {e}");
                return 2;
            }
        },
    };
    let local = key.public().to_peer_id();
    let mut swarm = match build_swarm(key, &args) {
        Ok(s) => s,
        Err(e) => {
            emit(json!({"event": "error", "error": e}));
            return 1;
        }
    };
    emit(
        json!({"event": "started", "peer_id": local.to_string(), "impl": "rust", "version": LIBP2P_VERSION}),
    );

    let (conn_tx, conn_rx) = mpsc::unbounded_channel();
    let (steps_done_tx, mut steps_done_rx) = mpsc::unbounded_channel();
    let (auth_done_tx, mut auth_done_rx) = mpsc::unbounded_channel::<bool>();
    let target = match &args.dial {
        Some(DialTarget::Relayed(p)) => Some(*p),
        Some(DialTarget::Direct(_, p)) => Some(*p),
        None => None,
    };

    // Listening peers serve echo and sink; a dialling one too (harmless, and symmetric).
    let mut control = swarm.behaviour().stream.new_control();
    steps::serve(&mut control);

    for a in &args.listen_addrs {
        if let Err(e) = swarm.listen_on(a.clone()) {
            emit(
                json!({"event": "error", "error": format!("listen_on {a}: {}", errors::chain(&e))}),
            );
            return 1;
        }
    }

    let mut peer = Peer {
        args: args.clone(),
        swarm,
        local,
        conns: HashMap::new(),
        relay_listener: None,
        circuit_addrs: Vec::new(),
        pending_reserved: None,
        ever_reserved: false,
        reconnect_at: None,
        target,
        target_conn: None,
        relayed_conn: None,
        circuit_limit: None,
        circuit_printed: false,
        direct_deadline: None,
        closing_relayed: false,
        steps_started: false,
        holding: false,
        conn_tx,
        conn_rx: Some(conn_rx),
        steps_done_tx,
        candidate_deadline: None,
        awaiting_relay_conn: false,
        auth_running: false,
        go_on_pending: false,
        auth_done_tx,
    };

    let via_relay = !matches!(args.dial, Some(DialTarget::Direct(..)));
    match &args.relay {
        Some(_) if (args.holepunch || args.auth_token.is_some()) && via_relay => {
            if let Some(Exit::Code(c)) = peer.dial_relay_first() {
                return c;
            }
            if args.holepunch {
                peer.candidate_deadline = Some(Instant::now() + Duration::from_secs(10));
            }
        }
        _ => {
            if let Some(Exit::Code(c)) = peer.go_on() {
                return c;
            }
        }
    }

    let deadline = args.timeout.map(|t| tokio::time::Instant::now() + t);
    let timeout = async move {
        match deadline {
            Some(d) => tokio::time::sleep_until(d).await,
            None => futures::future::pending::<()>().await,
        }
    };
    tokio::pin!(timeout);
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);

    let code = loop {
        tokio::select! {
            ev = peer.swarm.select_next_some() => {
                if let Some(Exit::Code(c)) = peer.handle(ev) { break c; }
            }
            _ = tick.tick() => {
                if let Some(Exit::Code(c)) = peer.tick() { break c; }
            }
            Some(_) = auth_done_rx.recv() => {
                // a refusal is printed (auth_failed) and shows in the relay's answer to RESERVE
                // or CONNECT (PERMISSION_DENIED: exit 4)
                peer.auth_running = false;
                if let Some(Exit::Code(c)) = peer.maybe_go_on() { break c; }
            }
            Some(r) = steps_done_rx.recv() => match r {
                Ok(()) if args.hold => {
                    // Keep the connection until it closes (ConnectionClosed of target_conn).
                    peer.holding = true;
                    let still_up = peer.target_conn.map(|c| peer.conns.contains_key(&c)).unwrap_or(false);
                    if !still_up { break 0; }
                }
                Ok(()) => break 0,
                Err(steps::Failed(c)) => break c,
            },
            _ = &mut timeout => {
                emit(json!({"event": "error", "error": format!("timeout after {} s", args.timeout.map(|t| t.as_secs_f64()).unwrap_or(0.0))}));
                break 3;
            }
            _ = sigterm.recv() => { diag!("SIGTERM"); break 0; }
            _ = tokio::signal::ctrl_c() => { diag!("SIGINT"); break 0; }
        }
    };

    // Close our connections politely (a QUIC peer otherwise only notices at its idle timeout):
    // relayed ones first, so that the circuits end with a close travelling through the relay
    // rather than with the relay connection under them going away; each phase bounded.
    let relayed: Vec<ConnectionId> = peer
        .conns
        .iter()
        .filter(|(_, c)| c.2)
        .map(|(id, _)| *id)
        .collect();
    for id in &relayed {
        peer.swarm.close_connection(*id);
    }
    drain_closes(&mut peer, Duration::from_millis(500), |p| {
        p.conns.values().any(|c| c.2)
    })
    .await;
    if !relayed.is_empty() {
        // Our close of a relayed connection is a FIN on its circuit stream; give the relay and
        // the far end 200 ms to finish the circuit before the relay connection under it goes
        // (otherwise the relay sees "source connection closed" and resets the far end).
        drain_closes(&mut peer, Duration::from_millis(200), |_| true).await;
    }
    let peers: Vec<PeerId> = peer.swarm.connected_peers().copied().collect();
    for p in peers {
        let _ = peer.swarm.disconnect_peer_id(p);
    }
    drain_closes(&mut peer, Duration::from_secs(1), |p| !p.conns.is_empty()).await;
    code
}

/// Poll the swarm (bounded by `limit`) while `pending` holds, forgetting closed connections.
async fn drain_closes(peer: &mut Peer, limit: Duration, pending: impl Fn(&Peer) -> bool) {
    let until = tokio::time::Instant::now() + limit;
    while pending(peer) {
        match tokio::time::timeout_at(until, peer.swarm.select_next_some()).await {
            Ok(SwarmEvent::ConnectionClosed { connection_id, .. }) => {
                peer.conns.remove(&connection_id);
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
}
