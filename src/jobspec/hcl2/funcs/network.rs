//! Networks: `cidrhost`, `cidrnetmask`, `cidrsubnet` and `cidrsubnets`, of
//! IPv4 and IPv6 prefixes as Go's net package reads them.

use super::error::FuncError;
use super::{R, s, whole};
use hcl::Value;

/// A CIDR prefix as Go's net.ParseCIDR reads it: the network's address
/// (host bits cleared) as a number, the prefix length and the address
/// width (32 or 128).
fn cidr(p: &str) -> Result<(u128, u32, u32), FuncError> {
    let bad = || FuncError::Invalid(format!("{p:?} is not a CIDR prefix (like \"10.0.0.0/16\" or \"fd00::/8\")"));
    let (addr, len) = p.split_once('/').ok_or_else(bad)?;
    let ip: std::net::IpAddr = addr.parse().map_err(|_| bad())?;
    if len.is_empty() || len.len() > 3 || !len.bytes().all(|c| c.is_ascii_digit()) {
        return Err(bad());
    }
    let len: u32 = len.parse().map_err(|_| bad())?;
    let (bits, width) = match ip {
        std::net::IpAddr::V4(a) => (u128::from(u32::from(a)), 32),
        std::net::IpAddr::V6(a) => (u128::from(a), 128),
    };
    if len > width {
        return Err(bad());
    }
    Ok((bits & mask(len, width), len, width))
}
/// The first `len` of `width` bits set.
fn mask(len: u32, width: u32) -> u128 {
    if len == 0 { 0 } else { (u128::MAX << (width - len)) & all(width) }
}
/// All `width` bits set.
fn all(width: u32) -> u128 {
    if width >= 128 { u128::MAX } else { (1u128 << width) - 1 }
}
fn ip_text(bits: u128, width: u32) -> String {
    if width == 32 {
        std::net::Ipv4Addr::from(bits as u32).to_string()
    } else {
        std::net::Ipv6Addr::from(bits).to_string()
    }
}
/// The address of host `hostnum` in the prefix; a negative number
/// counts from the end (-1 is the last address).
pub fn cidrhost(a: Vec<Value>) -> R {
    let p = s(&a[0])?;
    let (net, len, width) = cidr(&p)?;
    let num = whole(&a[1])?;
    let max = all(width - len);
    let too_big = || FuncError::Invalid(format!("prefix of {len} does not accommodate a host numbered {num}"));
    let host = if num < 0 {
        let back = u128::from(num.unsigned_abs()) - 1;
        max.checked_sub(back).ok_or_else(too_big)?
    } else {
        let n = num as u128;
        if n > max {
            return Err(too_big());
        }
        n
    };
    Ok(Value::String(ip_text(net | host, width)))
}
/// An IPv4 prefix's netmask (`"255.255.240.0"`).
pub fn cidrnetmask(a: Vec<Value>) -> R {
    let p = s(&a[0])?;
    let (_, len, width) = cidr(&p)?;
    if width != 32 {
        return Err(FuncError::Invalid(format!("IPv6 addresses cannot have a netmask: {p}")));
    }
    Ok(Value::String(ip_text(mask(len, 32), 32)))
}
/// Subnet `netnum` of the prefix made `newbits` longer.
pub fn cidrsubnet(a: Vec<Value>) -> R {
    let p = s(&a[0])?;
    let (net, len, width) = cidr(&p)?;
    let (newbits, netnum) = (whole(&a[1])?, whole(&a[2])?);
    if newbits < 0 {
        return Err(FuncError::Invalid("newbits must not be negative".into()));
    }
    if i64::from(len) + newbits > i64::from(width) {
        return Err(FuncError::Invalid(format!("insufficient address space to extend prefix of {len} by {newbits}")));
    }
    let newlen = len + newbits as u32;
    if netnum < 0 || netnum as u128 > all(newbits as u32) {
        return Err(FuncError::Invalid(format!(
            "prefix extension of {newbits} does not accommodate a subnet numbered {netnum}"
        )));
    }
    let sub = net | (netnum as u128).checked_shl(width - newlen).unwrap_or(0);
    Ok(Value::String(format!("{}/{newlen}", ip_text(sub, width))))
}
/// Consecutive subnets of the prefix, each `newbits` longer than it,
/// each aligned after the one before (as Terraform allocates them).
pub fn cidrsubnets(a: Vec<Value>) -> R {
    let p = s(&a[0])?;
    let (net, start, width) = cidr(&p)?;
    let mut lens = Vec::with_capacity(a.len() - 1);
    for (i, x) in a[1..].iter().enumerate() {
        let bits = whole(x)?;
        let arg = i + 2;
        if bits < 1 {
            return Err(FuncError::Invalid(format!("argument {arg}: must extend the prefix by at least one bit")));
        }
        if bits > 32 {
            return Err(FuncError::Invalid(format!("argument {arg}: may not extend the prefix by more than 32 bits")));
        }
        let l = i64::from(start) + bits;
        if l > i64::from(width) {
            return Err(FuncError::Invalid(format!(
                "argument {arg}: would extend the prefix to {l} bits, which is too long for an IPv{} address",
                if width == 32 { 4 } else { 6 }
            )));
        }
        lens.push(l as u32);
    }
    let mut out = Vec::with_capacity(lens.len());
    let mut prev: Option<(u128, u32)> = None;
    for (i, &l) in lens.iter().enumerate() {
        let next = match prev {
            // The first starts at the prefix itself.
            None => net,
            Some((cur, cur_len)) => {
                // The last address of the current subnet, in a block
                // of the new length; the new subnet follows that block.
                let cur_last = cur | (!mask(cur_len, width) & all(width));
                let last = (cur_last & mask(l, width)) | (!mask(l, width) & all(width));
                if last == all(width) || (last + 1) & mask(start, width) != net {
                    return Err(FuncError::Invalid(format!(
                        "argument {}: not enough remaining address space for a subnet with a prefix of {l} bits after {}/{cur_len}",
                        i + 2,
                        ip_text(cur, width)
                    )));
                }
                last + 1
            }
        };
        out.push(Value::String(format!("{}/{l}", ip_text(next, width))));
        prev = Some((next, l));
    }
    Ok(Value::Array(out))
}
