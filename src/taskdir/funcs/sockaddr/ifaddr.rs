//! go-sockaddr's interface address (`IfAddr`) as supd keeps it: the
//! interface's name and flags, the address and its prefix length; the
//! attributes `attr` and `join` read of it, the map a template sees of it,
//! and the special-purpose networks of the RFCs go-sockaddr knows (what
//! is private, what is forwardable).

use super::SockaddrError;
use gotmpl::Value;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Interface flags, as Go's `net.Flags` (and go-sockaddr's `flags`) name
/// them, in Go's order.
pub const UP: u32 = 1;
pub const BROADCAST: u32 = 1 << 1;
pub const LOOPBACK: u32 = 1 << 2;
pub const POINT_TO_POINT: u32 = 1 << 3;
pub const MULTICAST: u32 = 1 << 4;
pub const RUNNING: u32 = 1 << 5;

const FLAG_NAMES: [(u32, &str); 6] = [
    (UP, "up"),
    (BROADCAST, "broadcast"),
    (LOOPBACK, "loopback"),
    (POINT_TO_POINT, "pointtopoint"),
    (MULTICAST, "multicast"),
    (RUNNING, "running"),
];

/// What [`IfAddr::attr`] knows, for its message.
pub(super) const ATTRIBUTES: &str =
    "supd's sockaddr knows address, broadcast, flags, mask_bits, name, netmask, network, port, string and type";

/// One address of one interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IfAddr {
    pub name: String,
    /// [`UP`], [`LOOPBACK`], ...
    pub flags: u32,
    pub ip: IpAddr,
    /// The prefix length of its network (32 or 128 without a netmask).
    pub prefix: u8,
}

/// What `sockaddr` sees of this host: its addresses, grouped by interface
/// in the host's order of interfaces, and the interface of its default
/// route (`None` without one).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Interfaces {
    pub addrs: Vec<IfAddr>,
    pub default: Option<String>,
}

impl IfAddr {
    fn bits(&self) -> u8 {
        if self.ip.is_ipv4() { 32 } else { 128 }
    }

    /// The address as a number (an IPv4 one in the low 32 bits).
    pub fn number(&self) -> u128 {
        match self.ip {
            IpAddr::V4(a) => u128::from(a.to_bits()),
            IpAddr::V6(a) => a.to_bits(),
        }
    }

    /// The address of this one's type that `n` is.
    fn address(&self, n: u128) -> IpAddr {
        match self.ip {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::from_bits(n as u32)),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::from_bits(n)),
        }
    }

    /// go-sockaddr's order of types: Unix sockets, IPv4, IPv6.
    pub fn type_rank(&self) -> u8 {
        if self.ip.is_ipv4() { 1 } else { 2 }
    }

    /// `IPv4` or `IPv6`, as go-sockaddr's `type` attribute says it.
    pub fn type_name(&self) -> &'static str {
        if self.ip.is_ipv4() { "IPv4" } else { "IPv6" }
    }

    /// As go-sockaddr writes the address (its `string`): with its prefix,
    /// unless that is the whole address.
    pub fn sock_string(&self) -> String {
        if self.prefix >= self.bits() { self.ip.to_string() } else { format!("{}/{}", self.ip, self.prefix) }
    }

    /// An attribute, as go-sockaddr's `attr` and `join` name them.
    pub fn attr(&self, name: &str) -> Result<String, SockaddrError> {
        let mask = mask(self.bits(), self.prefix);
        let network = self.number() & mask;
        Ok(match name.to_ascii_lowercase().as_str() {
            "name" => self.name.clone(),
            "flags" => flags_text(self.flags),
            "address" => self.ip.to_string(),
            "string" => self.sock_string(),
            "type" => self.type_name().to_string(),
            "port" => "0".to_string(),
            "mask_bits" => self.prefix.to_string(),
            "netmask" => self.address(mask).to_string(),
            "network" => format!("{}/{}", self.address(network), self.prefix),
            "broadcast" if self.ip.is_ipv4() => self.address(network | (!mask & u128::from(u32::MAX))).to_string(),
            other => return Err(SockaddrError::Attribute(other.to_string())),
        })
    }

    /// The map a template sees: go-sockaddr's `IfAddr` fields `Name`,
    /// `Flags` (as Go writes them: `up|broadcast`) and `SockAddr`
    /// (`10.0.0.5/24`), from which [`IfAddr::from_value`] reads it back.
    pub fn to_value(&self) -> Value {
        super::super::object([
            ("Name", Value::String(self.name.as_str().into())),
            ("Flags", Value::String(flags_text(self.flags).into())),
            ("SockAddr", Value::String(self.sock_string().into())),
        ])
    }

    /// The address a map of [`IfAddr::to_value`] holds; `None` for any
    /// other value.
    pub fn from_value(v: &Value) -> Option<IfAddr> {
        let Value::Map(m) = v else { return None };
        let field = |k: &str| match m.get(k) {
            Some(Value::String(s)) => Some(s.clone()),
            _ => None,
        };
        let (ip, prefix) = parse_address(&field("SockAddr")?)?;
        Some(IfAddr { name: field("Name")?.to_string(), flags: flags_parse(&field("Flags")?), ip, prefix })
    }
}

/// Go's text of interface flags: their names joined by `|`, `0` for none.
pub fn flags_text(flags: u32) -> String {
    let names: Vec<&str> = FLAG_NAMES.iter().filter(|(bit, _)| flags & bit != 0).map(|(_, n)| *n).collect();
    if names.is_empty() { "0".to_string() } else { names.join("|") }
}

fn flags_parse(text: &str) -> u32 {
    text.split('|').filter_map(|n| FLAG_NAMES.iter().find(|(_, x)| *x == n)).fold(0, |all, (bit, _)| all | bit)
}

/// An address with an optional prefix length: `10.0.0.5/24`, `fe80::1`.
pub fn parse_address(text: &str) -> Option<(IpAddr, u8)> {
    let (addr, prefix) = match text.trim().split_once('/') {
        Some((a, p)) => (a, Some(p.parse::<u8>().ok()?)),
        None => (text.trim(), None),
    };
    let ip: IpAddr = addr.parse().ok()?;
    let bits = if ip.is_ipv4() { 32 } else { 128 };
    let prefix = prefix.unwrap_or(bits);
    (prefix <= bits).then_some((ip, prefix))
}

/// The top `prefix` bits of a `bits`-bit address, set.
fn mask(bits: u8, prefix: u8) -> u128 {
    let all = if bits == 32 { u128::from(u32::MAX) } else { u128::MAX };
    let prefix = u32::from(prefix.min(bits));
    if prefix == 0 { 0 } else { (all << (u32::from(bits) - prefix)) & all }
}

/// A network: an address and its prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Net {
    ip: IpAddr,
    prefix: u8,
}

impl Net {
    /// `10.0.0.0/8`, or one address.
    pub fn parse(text: &str) -> Option<Net> {
        parse_address(text).map(|(ip, prefix)| Net { ip, prefix })
    }

    /// Whether `ip` is in the network (an address of the other type never is).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let (bits, net, other) = match (self.ip, ip) {
            (IpAddr::V4(n), IpAddr::V4(x)) => (32, u128::from(n.to_bits()), u128::from(x.to_bits())),
            (IpAddr::V6(n), IpAddr::V6(x)) => (128, n.to_bits(), x.to_bits()),
            _ => return false,
        };
        let m = mask(bits, self.prefix);
        net & m == other & m
    }
}

const fn v4(a: u8, b: u8, c: u8, d: u8, prefix: u8) -> Net {
    Net { ip: IpAddr::V4(Ipv4Addr::new(a, b, c, d)), prefix }
}

const fn v6(s: [u16; 8], prefix: u8) -> Net {
    Net { ip: IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7])), prefix }
}

/// RFC 6890's special-purpose networks: go-sockaddr's "private".
const RFC_6890: &[Net] = &[
    v4(0, 0, 0, 0, 8),
    v4(10, 0, 0, 0, 8),
    v4(100, 64, 0, 0, 10),
    v4(127, 0, 0, 0, 8),
    v4(169, 254, 0, 0, 16),
    v4(172, 16, 0, 0, 12),
    v4(192, 0, 0, 0, 24),
    v4(192, 0, 0, 0, 29),
    v4(192, 0, 2, 0, 24),
    v4(192, 88, 99, 0, 24),
    v4(192, 168, 0, 0, 16),
    v4(198, 18, 0, 0, 15),
    v4(198, 51, 100, 0, 24),
    v4(203, 0, 113, 0, 24),
    v4(240, 0, 0, 0, 4),
    v4(255, 255, 255, 255, 32),
    v6([0, 0, 0, 0, 0, 0, 0, 1], 128),
    v6([0; 8], 128),
    v6([0x64, 0xff9b, 0, 0, 0, 0, 0, 0], 96),
    v6([0, 0, 0, 0, 0, 0xffff, 0, 0], 96),
    v6([0x100, 0, 0, 0, 0, 0, 0, 0], 64),
    v6([0x2001, 0, 0, 0, 0, 0, 0, 0], 16),
    v6([0x2002, 0, 0, 0, 0, 0, 0, 0], 16),
    v6([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7),
    v6([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10),
];

/// The networks RFC 6890 says a router does not forward: an address in
/// one is not `forwardable`.
const NOT_FORWARDABLE: &[Net] = &[
    v4(0, 0, 0, 0, 8),
    v4(127, 0, 0, 0, 8),
    v4(169, 254, 0, 0, 16),
    v4(192, 0, 0, 0, 24),
    v4(192, 0, 2, 0, 24),
    v4(198, 51, 100, 0, 24),
    v4(203, 0, 113, 0, 24),
    v4(240, 0, 0, 0, 4),
    v4(255, 255, 255, 255, 32),
    v6([0, 0, 0, 0, 0, 0, 0, 1], 128),
    v6([0; 8], 128),
    v6([0, 0, 0, 0, 0, 0xffff, 0, 0], 96),
    v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32),
    v6([0x2001, 0x10, 0, 0, 0, 0, 0, 0], 28),
    v6([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10),
];

const RFC_1918: &[Net] = &[v4(10, 0, 0, 0, 8), v4(172, 16, 0, 0, 12), v4(192, 168, 0, 0, 16)];
const RFC_1122: &[Net] = &[v4(0, 0, 0, 0, 8), v4(127, 0, 0, 0, 8)];
const RFC_3927: &[Net] = &[v4(169, 254, 0, 0, 16)];
const RFC_4193: &[Net] = &[v6([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7)];
const RFC_5737: &[Net] = &[v4(192, 0, 2, 0, 24), v4(198, 51, 100, 0, 24), v4(203, 0, 113, 0, 24)];
const RFC_6598: &[Net] = &[v4(100, 64, 0, 0, 10)];

/// The networks of an RFC that `include "rfc"` knows; `None` for another.
pub fn rfc(number: u32) -> Option<&'static [Net]> {
    Some(match number {
        1122 => RFC_1122,
        1918 => RFC_1918,
        3927 => RFC_3927,
        4193 => RFC_4193,
        5737 => RFC_5737,
        6598 => RFC_6598,
        6890 => RFC_6890,
        _ => return None,
    })
}

/// The RFCs [`rfc`] knows, for messages.
pub const RFCS: &str = "1122, 1918, 3927, 4193, 5737, 6598 and 6890";

/// go-sockaddr's "private": in one of RFC 6890's networks.
pub fn is_private(ip: IpAddr) -> bool {
    RFC_6890.iter().any(|n| n.contains(ip))
}

pub fn is_forwardable(ip: IpAddr) -> bool {
    !NOT_FORWARDABLE.iter().any(|n| n.contains(ip))
}

// Go's net.IP predicates, which the `flag` selector names.

pub fn is_loopback(ip: IpAddr) -> bool {
    ip.is_loopback()
}

pub fn is_multicast(ip: IpAddr) -> bool {
    ip.is_multicast()
}

pub fn is_unspecified(ip: IpAddr) -> bool {
    ip.is_unspecified()
}

pub fn is_link_local_unicast(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => a.is_link_local(),
        IpAddr::V6(a) => a.segments()[0] & 0xffc0 == 0xfe80,
    }
}

pub fn is_link_local_multicast(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => matches!(a.octets(), [224, 0, 0, _]),
        IpAddr::V6(a) => a.segments()[0] & 0xff0f == 0xff02,
    }
}

pub fn is_interface_local_multicast(ip: IpAddr) -> bool {
    matches!(ip, IpAddr::V6(a) if a.segments()[0] & 0xff0f == 0xff01)
}

pub fn is_global_unicast(ip: IpAddr) -> bool {
    ip != IpAddr::V4(Ipv4Addr::BROADCAST)
        && !ip.is_unspecified()
        && !ip.is_loopback()
        && !ip.is_multicast()
        && !is_link_local_unicast(ip)
}
