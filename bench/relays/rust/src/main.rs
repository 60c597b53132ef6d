//! rust-relay: the rust-libp2p Circuit Relay v2 server `make bench` compares our relay with
//! (bench/relays/README.md says how it is configured and why).
//!
//!     rust-relay [--listen MULTIADDR]...
//!
//! The shape of rust-libp2p's examples/relay-server: a tokio swarm with TCP (Noise, Yamux) and
//! QUIC v1, and the relay, identify and ping behaviours, with the relay limits that would cap a
//! benchmark lifted, idle connections kept open (see IDLE_TIMEOUT), and each listen address
//! confirmed as an external address (without one the relay behaviour refuses hop streams).
//! Listens on 127.0.0.1 TCP and QUIC port 0 unless --listen is given.
//!
//! Prints "Listening on: <multiaddr>/p2p/<id>" once per listen address on stdout, then runs until
//! SIGTERM or SIGINT and exits 0. No tracing subscriber is installed: it logs nothing.

use std::time::Duration;

use futures::StreamExt;
use libp2p::{
    identify, noise, ping, relay,
    swarm::{NetworkBehaviour, SwarmEvent},
    tcp, yamux, Multiaddr,
};
use tokio::signal::unix::{signal, SignalKind};

/// Far above anything the benchmark opens (it holds at most tens of thousands of connections).
const LOTS: usize = 1 << 30;

/// The swarm closes a connection once no handler keeps it alive for this long. The relay handler
/// lets go of a connection 10 s after its last reservation or circuit, identify and ping never
/// hold one, and the swarm's default timeout is 10 s: the benchmark's idle connections (held
/// open to count what a relay can keep) would be closed under it.
const IDLE_TIMEOUT: Duration = Duration::from_secs(3600);

/// Longer than any benchmark; sent to clients in each Limit as u32 seconds.
const CIRCUIT_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);

#[derive(NetworkBehaviour)]
struct Behaviour {
    relay: relay::Behaviour,
    identify: identify::Behaviour,
    ping: ping::Behaviour,
}

fn relay_config() -> relay::Config {
    relay::Config {
        max_reservations: LOTS,
        max_reservations_per_peer: LOTS,
        reservation_rate_limiters: Vec::new(),
        max_circuits: LOTS,
        max_circuits_per_peer: LOTS,
        max_circuit_duration: CIRCUIT_DURATION,
        // 0: no byte limit (libp2p-relay 0.22 copy_future checks only a limit above 0; the Limit
        // message still carries data 0).
        max_circuit_bytes: 0,
        circuit_src_rate_limiters: Vec::new(),
        // reservation_duration (1 h): the default.
        ..relay::Config::default()
    }
}

fn build_swarm() -> Result<libp2p::Swarm<Behaviour>, Box<dyn std::error::Error>> {
    Ok(libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            tcp::Config::default(),
            noise::Config::new,
            yamux::Config::default,
        )?
        .with_quic()
        .with_behaviour(|key| Behaviour {
            relay: relay::Behaviour::new(key.public().to_peer_id(), relay_config()),
            identify: identify::Behaviour::new(
                identify::Config::new("/ipfs/id/1.0.0".to_string(), key.public())
                    .with_agent_version("mesh-relay-bench-rust-relay".to_string()),
            ),
            ping: ping::Behaviour::new(ping::Config::new()),
        })?
        .with_swarm_config(|c| c.with_idle_connection_timeout(IDLE_TIMEOUT))
        .build())
}

fn usage() -> ! {
    eprintln!("usage: rust-relay [--listen MULTIADDR]...");
    std::process::exit(2);
}

#[tokio::main]
async fn main() {
    let mut listen: Vec<Multiaddr> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--listen" => {
                let v = args.next().unwrap_or_else(|| usage());
                listen.push(v.parse().unwrap_or_else(|e| {
                    eprintln!("rust-relay: bad multiaddr {v}: {e}");
                    std::process::exit(2)
                }));
            }
            _ => usage(),
        }
    }
    if listen.is_empty() {
        listen.push("/ip4/127.0.0.1/tcp/0".parse().unwrap());
        listen.push("/ip4/127.0.0.1/udp/0/quic-v1".parse().unwrap());
    }

    let mut swarm = match build_swarm() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("rust-relay: {e}");
            std::process::exit(1);
        }
    };

    for addr in listen {
        if let Err(e) = swarm.listen_on(addr.clone()) {
            eprintln!("rust-relay: listen on {addr}: {e}");
            std::process::exit(1);
        }
    }

    let id = *swarm.local_peer_id();
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    loop {
        tokio::select! {
            ev = swarm.select_next_some() => match ev {
                SwarmEvent::NewListenAddr { address, .. } => {
                    // libp2p-relay serves (advertises and accepts hop streams) only while the
                    // swarm has a confirmed external address, and lists those addresses in its
                    // reservations: the listen addresses are ours (examples/relay-server adds
                    // identify's observed address instead, which behind loopback is a client's
                    // ephemeral port for TCP).
                    swarm.add_external_address(address.clone());
                    println!("Listening on: {address}/p2p/{id}");
                }
                SwarmEvent::ListenerError { error, .. } => eprintln!("rust-relay: listener: {error}"),
                _ => {}
            },
            _ = term.recv() => break,
            _ = int.recv() => break,
        }
    }
    std::process::exit(0);
}
