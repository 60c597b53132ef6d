//! Command line of the interop peers (tests/interop/PEERS.md).

use std::time::Duration;

use libp2p::{multiaddr::Protocol, Multiaddr, PeerId};

pub const USAGE: &str = "\
usage: rust-peer --relay MULTIADDR                      listen through the relay
       rust-peer --relay MULTIADDR --dial PEER_ID ...   dial PEER_ID through the relay
       rust-peer --dial MULTIADDR ...                   dial directly (must end in /p2p/ID)
       rust-peer --relay MULTIADDR --reserve-only       reserve once, print it, exit
options: --listen-addr MULTIADDR (repeatable)  --holepunch  --direct-timeout SECS
         --ping N  --identify  --echo-bytes N  --send N  --hold
         --refresh-log  --reconnect  --timeout SECS
         --identity FILE (the key: a libp2p PrivateKey protobuf)
         --auth-token TOKEN (authenticate on the relay connection first, docs/AUTH.md)
rust peer only (relay tests): --dial-after-reserve MULTIADDR  listening: once the first
         reservation is accepted, also dial MULTIADDR directly (e.g. the relay over the other
         transport, so that the relay holds a second connection that carries no reservation)
see tests/interop/PEERS.md";

/// What the peer was asked to dial, if anything.
#[derive(Debug, Clone)]
pub enum DialTarget {
    /// `--relay R --dial PEER_ID`: through the relay.
    Relayed(PeerId),
    /// `--dial MULTIADDR/p2p/ID`: directly.
    Direct(Multiaddr, PeerId),
}

#[derive(Debug, Clone)]
pub struct Args {
    pub relay: Option<(Multiaddr, PeerId)>,
    pub dial: Option<DialTarget>,
    pub listen_addrs: Vec<Multiaddr>,
    pub holepunch: bool,
    pub direct_timeout: Duration,
    pub ping: u32,
    pub identify: bool,
    pub echo_bytes: Option<u64>,
    pub send: Option<u64>,
    pub hold: bool,
    pub refresh_log: bool,
    pub reserve_only: bool,
    pub reconnect: bool,
    pub timeout: Option<Duration>,
    pub dial_after_reserve: Vec<Multiaddr>,
    pub identity: Option<String>,
    pub auth_token: Option<String>,
}

impl Args {
    pub fn has_steps(&self) -> bool {
        self.ping > 0 || self.identify || self.echo_bytes.is_some() || self.send.is_some()
    }
}

/// The PeerId that a multiaddr ends with (`.../p2p/ID`).
fn trailing_peer_id(addr: &Multiaddr) -> Option<PeerId> {
    match addr.iter().last() {
        Some(Protocol::P2p(id)) => Some(id),
        _ => None,
    }
}

fn value<'a>(it: &mut impl Iterator<Item = &'a String>, opt: &str) -> Result<&'a String, String> {
    it.next().ok_or_else(|| format!("{opt} needs a value"))
}

fn number<T: std::str::FromStr>(s: &str, opt: &str) -> Result<T, String> {
    s.parse::<T>()
        .map_err(|_| format!("{opt}: not a number: {s}"))
}

fn multiaddr(s: &str, opt: &str) -> Result<Multiaddr, String> {
    s.parse::<Multiaddr>()
        .map_err(|e| format!("{opt}: bad multiaddr {s}: {e}"))
}

pub fn parse(argv: &[String]) -> Result<Args, String> {
    let mut relay = None;
    let mut dial_raw: Option<String> = None;
    let mut a = Args {
        relay: None,
        dial: None,
        listen_addrs: Vec::new(),
        holepunch: false,
        direct_timeout: Duration::from_secs(20),
        ping: 0,
        identify: false,
        echo_bytes: None,
        send: None,
        hold: false,
        refresh_log: false,
        reserve_only: false,
        reconnect: false,
        timeout: None,
        dial_after_reserve: Vec::new(),
        identity: None,
        auth_token: None,
    };
    let mut timeout_secs: Option<f64> = None;
    let mut it = argv.iter();
    while let Some(opt) = it.next() {
        match opt.as_str() {
            "--relay" => {
                let addr = multiaddr(value(&mut it, opt)?, opt)?;
                let id = trailing_peer_id(&addr)
                    .ok_or_else(|| format!("--relay {addr}: must end in /p2p/ID"))?;
                if addr.iter().any(|p| p == Protocol::P2pCircuit) {
                    return Err(format!("--relay {addr}: must not contain /p2p-circuit"));
                }
                relay = Some((addr, id));
            }
            "--dial" => dial_raw = Some(value(&mut it, opt)?.clone()),
            "--listen-addr" => a.listen_addrs.push(multiaddr(value(&mut it, opt)?, opt)?),
            "--holepunch" => a.holepunch = true,
            "--direct-timeout" => {
                let s: f64 = number(value(&mut it, opt)?, opt)?;
                if !(s > 0.0 && s.is_finite()) {
                    return Err(format!("{opt} must be > 0"));
                }
                a.direct_timeout = Duration::from_secs_f64(s);
            }
            "--ping" => a.ping = number(value(&mut it, opt)?, opt)?,
            "--identify" => a.identify = true,
            "--echo-bytes" => a.echo_bytes = Some(number(value(&mut it, opt)?, opt)?),
            "--send" => a.send = Some(number(value(&mut it, opt)?, opt)?),
            "--hold" => a.hold = true,
            "--dial-after-reserve" => a
                .dial_after_reserve
                .push(multiaddr(value(&mut it, opt)?, opt)?),
            "--refresh-log" => a.refresh_log = true,
            "--reserve-only" => a.reserve_only = true,
            "--reconnect" => a.reconnect = true,
            "--identity" => a.identity = Some(value(&mut it, opt)?.clone()),
            "--auth-token" => a.auth_token = Some(value(&mut it, opt)?.clone()),
            "--timeout" => {
                let s: f64 = number(value(&mut it, opt)?, opt)?;
                if !(s > 0.0 && s.is_finite()) {
                    return Err(format!("{opt} must be > 0"));
                }
                timeout_secs = Some(s);
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown option {other}")),
        }
    }
    a.relay = relay;
    if let Some(d) = dial_raw {
        a.dial = Some(if d.starts_with('/') {
            let addr = multiaddr(&d, "--dial")?;
            let id = trailing_peer_id(&addr)
                .ok_or_else(|| format!("--dial {addr}: must end in /p2p/ID"))?;
            DialTarget::Direct(addr, id)
        } else {
            let id = d
                .parse::<PeerId>()
                .map_err(|e| format!("--dial {d}: bad PeerId: {e}"))?;
            if a.relay.is_none() {
                return Err("--dial PEER_ID needs --relay MULTIADDR".into());
            }
            DialTarget::Relayed(id)
        });
    }
    if a.dial.is_none() && a.relay.is_none() {
        return Err("need --relay or --dial".into());
    }
    if a.auth_token.is_some() && a.relay.is_none() {
        return Err("--auth-token needs --relay (it authenticates on the relay connection)".into());
    }
    if a.reserve_only && a.dial.is_some() {
        return Err("--reserve-only does not go with --dial".into());
    }
    if a.dial.is_none() && (a.has_steps() || a.hold) {
        return Err("--ping/--identify/--echo-bytes/--send/--hold need --dial".into());
    }
    if a.dial.is_some() && (a.reconnect || a.refresh_log || !a.dial_after_reserve.is_empty()) {
        return Err("--reconnect/--refresh-log/--dial-after-reserve are for listening".into());
    }
    if a.holepunch && a.dial.is_some() && !matches!(a.dial, Some(DialTarget::Relayed(_))) {
        return Err("--holepunch with --dial needs --relay and --dial PEER_ID".into());
    }
    a.timeout = match timeout_secs {
        Some(s) => Some(Duration::from_secs_f64(s)),
        None if a.dial.is_some() || a.reserve_only => Some(Duration::from_secs(30)),
        None => None,
    };
    Ok(a)
}
