//! What `sockaddr` reads of this host: its interface addresses
//! (getifaddrs), grouped by interface in the kernel's order of interfaces
//! as Go lists them, and the interface of its default route: the IPv4 one
//! of /proc/net/route, else the IPv6 one of /proc/net/ipv6_route, each
//! read up to [`MAX_ROUTES`].

use super::SockaddrError;
use super::ifaddr::{self, IfAddr, Interfaces};
use nix::net::if_::InterfaceFlags;
use nix::sys::socket::SockaddrStorage;
use std::collections::BTreeMap;
use std::io::Read;
use std::net::IpAddr;

/// The most of a route table read. The kernel lists routes by
/// destination, so a default route (destination 0) comes first; a router's
/// full table is not read.
const MAX_ROUTES: u64 = 1 << 20;

/// This host's interfaces as `sockaddr` sees them.
pub fn read() -> Result<Interfaces, SockaddrError> {
    Ok(Interfaces { addrs: addresses()?, default: default_route() })
}

fn addresses() -> Result<Vec<IfAddr>, SockaddrError> {
    let all = nix::ifaddrs::getifaddrs().map_err(SockaddrError::Interfaces)?;
    // An interface's place is where it first appears (its link entry).
    let mut order: BTreeMap<String, usize> = BTreeMap::new();
    let mut found: Vec<(usize, IfAddr)> = Vec::new();
    for entry in all {
        let next = order.len();
        let place = *order.entry(entry.interface_name.clone()).or_insert(next);
        let Some((ip, bits)) = entry.address.as_ref().and_then(ip_of) else { continue };
        let prefix = entry.netmask.as_ref().and_then(ip_of).map_or(bits, |(mask, _)| prefix_of(mask));
        let flags = flags_of(entry.flags);
        found.push((place, IfAddr { name: entry.interface_name, flags, ip, prefix }));
    }
    found.sort_by_key(|(place, _)| *place);
    Ok(found.into_iter().map(|(_, a)| a).collect())
}

/// An IP address and its length in bits; `None` for another family.
fn ip_of(s: &SockaddrStorage) -> Option<(IpAddr, u8)> {
    if let Some(v4) = s.as_sockaddr_in() {
        return Some((IpAddr::V4(v4.ip()), 32));
    }
    s.as_sockaddr_in6().map(|v6| (IpAddr::V6(v6.ip()), 128))
}

/// The prefix length of a netmask.
fn prefix_of(mask: IpAddr) -> u8 {
    let ones = match mask {
        IpAddr::V4(m) => m.to_bits().leading_ones(),
        IpAddr::V6(m) => m.to_bits().leading_ones(),
    };
    u8::try_from(ones).unwrap_or(128)
}

fn flags_of(f: InterfaceFlags) -> u32 {
    [
        (InterfaceFlags::IFF_UP, ifaddr::UP),
        (InterfaceFlags::IFF_BROADCAST, ifaddr::BROADCAST),
        (InterfaceFlags::IFF_LOOPBACK, ifaddr::LOOPBACK),
        (InterfaceFlags::IFF_POINTOPOINT, ifaddr::POINT_TO_POINT),
        (InterfaceFlags::IFF_MULTICAST, ifaddr::MULTICAST),
        (InterfaceFlags::IFF_RUNNING, ifaddr::RUNNING),
    ]
    .into_iter()
    .filter(|(flag, _)| f.contains(*flag))
    .fold(0, |all, (_, bit)| all | bit)
}

fn default_route() -> Option<String> {
    read_routes("/proc/net/route")
        .and_then(|t| default_v4(&t))
        .or_else(|| read_routes("/proc/net/ipv6_route").and_then(|t| default_v6(&t)))
}

/// The whole lines of the first [`MAX_ROUTES`] bytes of a route table.
fn read_routes(path: &str) -> Option<String> {
    let mut bytes = Vec::new();
    std::fs::File::open(path).ok()?.take(MAX_ROUTES).read_to_end(&mut bytes).ok()?;
    let end = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    bytes.truncate(end);
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

/// The interface of the IPv4 default route of lowest metric in
/// /proc/net/route's text (`Iface Destination Gateway Flags RefCnt Use
/// Metric Mask ...`, hexadecimal addresses and flags).
pub fn default_v4(table: &str) -> Option<String> {
    const RTF_UP: u32 = 0x1;
    let mut best: Option<(u64, &str)> = None;
    for line in table.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        let [iface, destination, _, flags, _, _, metric, mask, ..] = f.as_slice() else { continue };
        let up = u32::from_str_radix(flags, 16).is_ok_and(|f| f & RTF_UP != 0);
        if *destination != "00000000" || *mask != "00000000" || !up {
            continue;
        }
        let metric = metric.parse::<u64>().unwrap_or(u64::MAX);
        if best.is_none_or(|(m, _)| metric < m) {
            best = Some((metric, *iface));
        }
    }
    best.map(|(_, iface)| iface.to_string())
}

/// The interface of the IPv6 default route of lowest metric in
/// /proc/net/ipv6_route's text (`destination prefix source prefix next-hop
/// metric refcount use flags device`, in hexadecimal); the unreachable
/// route the kernel keeps on `lo` is not one.
pub fn default_v6(table: &str) -> Option<String> {
    const RTF_UP: u32 = 0x1;
    const RTF_REJECT: u32 = 0x200;
    let mut best: Option<(u64, &str)> = None;
    for line in table.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let [destination, prefix, _, _, _, metric, _, _, flags, device] = f.as_slice() else { continue };
        let flags = u32::from_str_radix(flags, 16).unwrap_or(0);
        let zero = destination.len() == 32 && destination.bytes().all(|b| b == b'0');
        if !zero || *prefix != "00" || flags & RTF_UP == 0 || flags & RTF_REJECT != 0 {
            continue;
        }
        let metric = u64::from_str_radix(metric, 16).unwrap_or(u64::MAX);
        if best.is_none_or(|(m, _)| metric < m) {
            best = Some((metric, *device));
        }
    }
    best.map(|(_, device)| device.to_string())
}
