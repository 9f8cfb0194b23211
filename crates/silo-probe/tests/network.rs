//! Network: the cell has only loopback (down) and AF_UNIX.

use std::io::Read;
use std::net::{TcpListener, UdpSocket};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixListener};
use std::time::Duration;

use crate::harness::*;

#[test]
fn tcp_connect_to_a_host_port() {
    if !can_run() {
        return;
    }
    let agent = Agent::new();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    in_cell(&agent, &[], &["tcp", &addr]).assert_blocked();
    // Each layer alone holds: seccomp off, the empty net namespace refuses…
    in_cell(&agent, &["--weaken", "seccomp"], &["tcp", &addr]).assert_blocked();
    // …with the namespace gone too, Landlock (no TCP connect but to the LLM loopback
    // port, and this cell has none) still refuses…
    in_cell(
        &agent,
        &["--weaken", "seccomp", "--weaken", "net-ns"],
        &["tcp", &addr],
    )
    .assert_blocked();
    // …and with all three off the probe does reach the host listener.
    let r = in_cell(
        &agent,
        &[
            "--weaken", "seccomp", "--weaken", "net-ns", "--weaken", "landlock",
        ],
        &["tcp", &addr],
    );
    r.assert_escaped();
    listener.set_nonblocking(true).unwrap();
    assert!(
        listener.accept().is_ok(),
        "the control connection must arrive"
    );
}

#[test]
fn udp_to_a_host_port() {
    if !can_run() {
        return;
    }
    let agent = Agent::new();
    let host = UdpSocket::bind("127.0.0.1:0").unwrap();
    host.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let addr = host.local_addr().unwrap().to_string();
    in_cell(&agent, &[], &["udp", &addr]).assert_blocked();
    in_cell(&agent, &["--weaken", "seccomp"], &["udp", &addr]).assert_blocked();
    in_cell(
        &agent,
        &["--weaken", "seccomp", "--weaken", "net-ns"],
        &["udp", &addr],
    )
    .assert_escaped();
    let mut buf = [0u8; 64];
    let (n, _) = host
        .recv_from(&mut buf)
        .expect("the control datagram must arrive");
    assert_eq!(&buf[..n], b"silo-probe");
}

#[test]
fn dns_lookup() {
    if !can_run() {
        return;
    }
    // Only inside the cell: the probe never sends a query from the host.
    in_cell(&Agent::new(), &[], &["dns"]).assert_blocked();
}

#[test]
fn raw_packet_and_netlink_sockets() {
    if !can_run() {
        return;
    }
    let agent = Agent::new();
    in_cell(&agent, &[], &["raw-sockets"]).assert_blocked();
    let scratch = tempfile::tempdir().unwrap();
    on_host(&agent, &["raw-sockets"], scratch.path()).assert_escaped();
}

#[test]
fn abstract_unix_socket_to_a_host_listener() {
    if !can_run() {
        return;
    }
    let agent = Agent::new();
    let name = format!("silo-abstract-{}", std::process::id());
    let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let listener = UnixListener::bind_addr(&addr).unwrap();
    in_cell(&agent, &[], &["abstract", &name]).assert_blocked();
    // Net namespace off: Landlock's abstract-socket scope still refuses.
    in_cell(&agent, &["--weaken", "net-ns"], &["abstract", &name]).assert_blocked();
    // Both off: the probe reaches the host listener.
    in_cell(
        &agent,
        &["--weaken", "net-ns", "--weaken", "landlock"],
        &["abstract", &name],
    )
    .assert_escaped();
    listener.set_nonblocking(true).unwrap();
    let (mut s, _) = listener
        .accept()
        .expect("the control connection must arrive");
    let mut b = Vec::new();
    let _ = s.read_to_end(&mut b);
}
