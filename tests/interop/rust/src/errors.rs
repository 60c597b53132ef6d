//! The library's error text and, where rust-libp2p exposes it, the relay's status name.
//!
//! rust-libp2p boxes transport errors into `io::Error`s; `io::Error::source()` skips the boxed
//! error itself (it returns the *inner* error's source), so the walk below also looks inside
//! `io::Error::get_ref()`.

use std::{error::Error, io};

use libp2p::relay::{
    client::transport::Error as ClientTransportError,
    outbound::hop::{ConnectError, ProtocolViolation, ReserveError},
};
use libp2p::swarm::DialError;
use libp2p::TransportError;

/// `e`, its boxed inner errors and its sources, joined with ": ". A cause whose text the previous
/// part already contains (many Display impls print their source too) is not repeated.
pub fn chain(e: &(dyn Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut push = |s: String| {
        if !s.is_empty()
            && !parts
                .last()
                .is_some_and(|l: &String| l.contains(s.as_str()))
        {
            parts.push(s);
        }
    };
    let mut cur: Option<&(dyn Error + 'static)> = Some(e);
    let mut depth = 0;
    while let Some(err) = cur {
        depth += 1;
        if depth > 32 {
            break;
        }
        push(err.to_string());
        // An io::Error that wraps another error: continue with the wrapped one (its own source()
        // would skip it).
        if let Some(ioe) = err.downcast_ref::<io::Error>() {
            if let Some(inner) = ioe.get_ref() {
                cur = Some(inner);
                continue;
            }
        }
        cur = err.source();
    }
    parts.join(": ")
}

fn violation_status(v: &ProtocolViolation) -> Option<String> {
    match v {
        ProtocolViolation::UnexpectedStatus(s) => Some(s.clone()),
        _ => None,
    }
}

fn connect_status(e: &ConnectError) -> Option<String> {
    Some(
        match e {
            ConnectError::ResourceLimitExceeded => "RESOURCE_LIMIT_EXCEEDED",
            ConnectError::ConnectionFailed => "CONNECTION_FAILED",
            ConnectError::NoReservation => "NO_RESERVATION",
            ConnectError::PermissionDenied => "PERMISSION_DENIED",
            ConnectError::Protocol(v) => return violation_status(v),
            _ => return None,
        }
        .to_string(),
    )
}

fn reserve_status(e: &ReserveError) -> Option<String> {
    Some(
        match e {
            ReserveError::Refused => "RESERVATION_REFUSED",
            ReserveError::ResourceLimitExceeded => "RESOURCE_LIMIT_EXCEEDED",
            ReserveError::Protocol(v) => return violation_status(v),
            _ => return None,
        }
        .to_string(),
    )
}

/// The relay's status name carried somewhere in `e` (a refused CONNECT or RESERVE).
pub fn relay_status(e: &(dyn Error + 'static)) -> Option<String> {
    let mut cur: Option<&(dyn Error + 'static)> = Some(e);
    let mut depth = 0;
    while let Some(err) = cur {
        depth += 1;
        if depth > 32 {
            return None;
        }
        if let Some(c) = err.downcast_ref::<ConnectError>() {
            return connect_status(c);
        }
        if let Some(r) = err.downcast_ref::<ReserveError>() {
            return reserve_status(r);
        }
        if let Some(t) = err.downcast_ref::<ClientTransportError>() {
            match t {
                ClientTransportError::Connect(c) => return connect_status(c),
                ClientTransportError::Reservation(r) => return reserve_status(r),
                _ => {}
            }
        }
        if let Some(ioe) = err.downcast_ref::<io::Error>() {
            if let Some(inner) = ioe.get_ref() {
                cur = Some(inner);
                continue;
            }
        }
        cur = err.source();
    }
    None
}

/// Text and status of a failed dial. `DialError::Transport` lists one error per address; its
/// Display does not show the nested causes, so they are appended here.
pub fn dial_error(e: &DialError) -> (String, Option<String>) {
    match e {
        DialError::Transport(errs) => {
            let mut status = None;
            let mut texts = Vec::new();
            for (addr, te) in errs {
                match te {
                    TransportError::Other(ioe) => {
                        if status.is_none() {
                            status = relay_status(ioe);
                        }
                        texts.push(format!("{addr}: {}", chain(ioe)));
                    }
                    TransportError::MultiaddrNotSupported(a) => {
                        texts.push(format!("{addr}: multiaddr not supported: {a}"))
                    }
                }
            }
            (
                format!(
                    "Failed to negotiate transport protocol(s): [{}]",
                    texts.join("; ")
                ),
                status,
            )
        }
        other => (chain(other), relay_status(other)),
    }
}
