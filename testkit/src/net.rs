//! Loopback ports for the servers that tests start.
//!
//! Servers written in this workspace take a bound listener (bind `127.0.0.1:0`) and
//! need none of this; it is for external programs that want a port number on their
//! command line, such as PostgreSQL or sshd. The port is free when returned, but not
//! held: a caller that loses the race to another process should retry with a new one.
//! Kafka brokers pick their own ports in `scripts/kafka`, below the ephemeral range.

use std::net::{Ipv4Addr, TcpListener};

/// Returns a TCP port on 127.0.0.1 that nothing listens on right now.
///
/// The kernel picks it from the ephemeral range, so concurrent callers get
/// different ports.
///
/// # Panics
///
/// If no loopback socket can be bound at all: the machine cannot run servers then.
pub fn free_port() -> u16 {
    let bound = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).and_then(|l| l.local_addr());
    match bound {
        Ok(addr) => addr.port(),
        Err(e) => panic!("cannot bind a loopback port: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_port_can_be_bound() {
        let port = free_port();
        assert_ne!(port, 0);
        assert!(TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok());
    }
}
