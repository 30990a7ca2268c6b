//! go-sockaddr's functions over a list of addresses: `include` and
//! `exclude` by a selector, `sort`, `unique`, `limit` and `offset`. Pure:
//! the tests give them any list.

use super::SockaddrError;
use super::ifaddr::{self, IfAddr, Net};
use std::cmp::Ordering;
use std::net::IpAddr;

/// Whether an address matches a selector.
type Test = Box<dyn Fn(&IfAddr) -> bool>;

/// `include` (`keep`) or `exclude`: the addresses `selector` `param`
/// matches, or those it does not, in their order.
pub fn filter(selector: &str, param: &str, addrs: Vec<IfAddr>, keep: bool) -> Result<Vec<IfAddr>, SockaddrError> {
    let test = matcher(selector, param)?;
    Ok(addrs.into_iter().filter(|a| test(a) == keep).collect())
}

fn matcher(selector: &str, param: &str) -> Result<Test, SockaddrError> {
    let test: Test = match selector.to_ascii_lowercase().as_str() {
        "address" => {
            let re = pattern(param)?;
            Box::new(move |a: &IfAddr| re.is_match(&a.sock_string()))
        }
        "name" => {
            let re = pattern(param)?;
            Box::new(move |a: &IfAddr| re.is_match(&a.name))
        }
        // An interface address has no port: go-sockaddr's is 0.
        "port" => {
            let zero = pattern(param)?.is_match("0");
            Box::new(move |_: &IfAddr| zero)
        }
        "flag" | "flags" => flag_test(param)?,
        "network" => {
            let nets = param
                .split('|')
                .map(|n| Net::parse(n).ok_or_else(|| SockaddrError::Network(n.to_string())))
                .collect::<Result<Vec<_>, _>>()?;
            Box::new(move |a: &IfAddr| nets.iter().any(|n| n.contains(a.ip)))
        }
        "rfc" | "rfcs" => {
            let nets = rfc_nets(param)?;
            Box::new(move |a: &IfAddr| nets.iter().any(|n| n.contains(a.ip)))
        }
        "size" => {
            let size: u8 = param.trim().parse().map_err(|_| SockaddrError::Size(param.to_string()))?;
            Box::new(move |a: &IfAddr| a.prefix == size)
        }
        "type" => type_test(param)?,
        other => return Err(SockaddrError::Selector(other.to_string())),
    };
    Ok(test)
}

/// A regular expression of a selector, of bounded size.
fn pattern(param: &str) -> Result<regex::Regex, SockaddrError> {
    regex::RegexBuilder::new(param)
        .size_limit(1 << 20)
        .build()
        .map_err(|source| SockaddrError::Pattern { param: param.to_string(), source })
}

/// The networks of the RFCs of `param`, `6890` or `1918|4193`.
fn rfc_nets(param: &str) -> Result<Vec<Net>, SockaddrError> {
    let mut nets = Vec::new();
    for n in param.split('|') {
        let known = n.trim().parse::<u32>().ok().and_then(ifaddr::rfc);
        let Some(list) = known else {
            return Err(SockaddrError::Rfc(n.to_string()));
        };
        nets.extend_from_slice(list);
    }
    Ok(nets)
}

/// `type`: `ip`, `ipv4`, `ipv6` or `unix`, joined by `|`.
fn type_test(param: &str) -> Result<Test, SockaddrError> {
    let (mut v4, mut v6) = (false, false);
    for t in param.to_ascii_lowercase().split('|') {
        match t.trim() {
            "ip" => (v4, v6) = (true, true),
            "ipv4" => v4 = true,
            "ipv6" => v6 = true,
            // No interface address is a Unix socket.
            "unix" => {}
            other => return Err(SockaddrError::Type(other.to_string())),
        }
    }
    Ok(Box::new(move |a: &IfAddr| if a.ip.is_ipv4() { v4 } else { v6 }))
}

/// `flag`: interface flags and kinds of address, joined by `|`. As
/// go-sockaddr's, an address matches when its interface has every flag
/// named, or when it is of any kind named; `down` is an interface that is
/// not up (go-sockaddr's own `down` matches every address).
fn flag_test(param: &str) -> Result<Test, SockaddrError> {
    let (mut want, mut by_flags, mut down) = (0u32, false, false);
    let mut kinds: Vec<Kind> = Vec::new();
    for f in param.to_ascii_lowercase().split('|') {
        let (bit, kind): (u32, Option<Kind>) = match f.trim() {
            "broadcast" => (ifaddr::BROADCAST, None),
            "point-to-point" => (ifaddr::POINT_TO_POINT, None),
            "up" => (ifaddr::UP, None),
            "loopback" => (ifaddr::LOOPBACK, Some(ifaddr::is_loopback as Kind)),
            "multicast" => (ifaddr::MULTICAST, Some(ifaddr::is_multicast as Kind)),
            "down" => {
                (by_flags, down) = (true, true);
                continue;
            }
            "forwardable" => (0, Some(ifaddr::is_forwardable as Kind)),
            "global unicast" => (0, Some(ifaddr::is_global_unicast as Kind)),
            "interface-local multicast" => (0, Some(ifaddr::is_interface_local_multicast as Kind)),
            "link-local multicast" => (0, Some(ifaddr::is_link_local_multicast as Kind)),
            "link-local unicast" => (0, Some(ifaddr::is_link_local_unicast as Kind)),
            "unspecified" => (0, Some(ifaddr::is_unspecified as Kind)),
            other => return Err(SockaddrError::Flag(other.to_string())),
        };
        if bit != 0 {
            (want, by_flags) = (want | bit, true);
        }
        kinds.extend(kind);
    }
    Ok(Box::new(move |a: &IfAddr| {
        let flags = by_flags && a.flags & want == want && !(down && a.flags & ifaddr::UP != 0);
        flags || kinds.iter().any(|k| k(a.ip))
    }))
}

/// A kind of address the `flag` selector names (Go's `net.IP` predicates).
type Kind = fn(IpAddr) -> bool;

/// One clause of `sort`: how two addresses compare.
type Cmp = fn(&IfAddr, &IfAddr, Option<&str>) -> Ordering;

/// `sort "default,-type,size"`: by each clause in turn, a `-` reversing
/// one. Stable; each clause is a total order (addresses of two types are
/// ordered by type where go-sockaddr leaves their order undecided).
/// `default`: the name of the interface of the default route.
pub fn sort(clauses: &str, mut addrs: Vec<IfAddr>, default: Option<&str>) -> Result<Vec<IfAddr>, SockaddrError> {
    let order = clauses.split(',').map(clause).collect::<Result<Vec<_>, _>>()?;
    addrs.sort_by(|a, b| {
        order
            .iter()
            .map(|(cmp, desc)| if *desc { cmp(a, b, default).reverse() } else { cmp(a, b, default) })
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal)
    });
    Ok(addrs)
}

fn clause(text: &str) -> Result<(Cmp, bool), SockaddrError> {
    let lower = text.trim().to_ascii_lowercase();
    let (desc, key) = match lower.strip_prefix('-') {
        Some(k) => (true, k),
        None => (false, lower.strip_prefix('+').unwrap_or(&lower)),
    };
    let cmp: Cmp = match key {
        "address" => by_address,
        "default" => by_default,
        "name" => by_name,
        "port" => by_port,
        "private" => by_private,
        "size" => by_size,
        "type" => by_type,
        _ => return Err(SockaddrError::SortKey(text.to_string())),
    };
    Ok((cmp, desc))
}

fn by_address(a: &IfAddr, b: &IfAddr, _: Option<&str>) -> Ordering {
    (a.type_rank(), a.number()).cmp(&(b.type_rank(), b.number()))
}

/// The default route's interface first.
fn by_default(a: &IfAddr, b: &IfAddr, default: Option<&str>) -> Ordering {
    is_default(b, default).cmp(&is_default(a, default))
}

fn by_name(a: &IfAddr, b: &IfAddr, _: Option<&str>) -> Ordering {
    a.name.cmp(&b.name)
}

/// An interface address has no port: they are all equal.
fn by_port(_: &IfAddr, _: &IfAddr, _: Option<&str>) -> Ordering {
    Ordering::Equal
}

/// Private (RFC 6890) first.
fn by_private(a: &IfAddr, b: &IfAddr, _: Option<&str>) -> Ordering {
    ifaddr::is_private(b.ip).cmp(&ifaddr::is_private(a.ip))
}

/// Larger networks (shorter prefixes) first.
fn by_size(a: &IfAddr, b: &IfAddr, _: Option<&str>) -> Ordering {
    (a.type_rank(), a.prefix).cmp(&(b.type_rank(), b.prefix))
}

fn by_type(a: &IfAddr, b: &IfAddr, _: Option<&str>) -> Ordering {
    a.type_rank().cmp(&b.type_rank())
}

/// Whether `a` is on the interface of the default route.
pub fn is_default(a: &IfAddr, default: Option<&str>) -> bool {
    default == Some(a.name.as_str())
}

/// `unique "address"` or `unique "name"`: of a run of addresses that are
/// the same by it, the first (the list is meant to be sorted).
pub fn unique(selector: &str, addrs: Vec<IfAddr>) -> Result<Vec<IfAddr>, SockaddrError> {
    let key: fn(&IfAddr) -> String = match selector.to_ascii_lowercase().as_str() {
        "address" => IfAddr::sock_string,
        "name" => name_of,
        other => return Err(SockaddrError::Unique(other.to_string())),
    };
    let mut last: Option<String> = None;
    let mut out = Vec::with_capacity(addrs.len());
    for a in addrs {
        let k = key(&a);
        if last.as_ref() != Some(&k) {
            last = Some(k);
            out.push(a);
        }
    }
    Ok(out)
}

fn name_of(a: &IfAddr) -> String {
    a.name.clone()
}

/// `limit N`: the first `n`.
pub fn limit(n: i64, addrs: Vec<IfAddr>) -> Result<Vec<IfAddr>, SockaddrError> {
    let n = usize::try_from(n).map_err(|_| SockaddrError::NegativeCount(n))?;
    Ok(addrs.into_iter().take(n).collect())
}

/// `offset N`: from the `n`th on, or the last `-n`.
pub fn offset(n: i64, addrs: Vec<IfAddr>) -> Result<Vec<IfAddr>, SockaddrError> {
    let len = addrs.len();
    let off = usize::try_from(n.unsigned_abs()).unwrap_or(usize::MAX);
    if off > len {
        return Err(SockaddrError::OffsetPastEnd { offset: n, len });
    }
    let skip = if n < 0 { len - off } else { off };
    Ok(addrs.into_iter().skip(skip).collect())
}
