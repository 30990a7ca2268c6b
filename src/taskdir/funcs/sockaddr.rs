//! consul-template's `sockaddr`: its arguments, joined by spaces, are the
//! inside of a go-sockaddr template (`{{ ARGS }}`), evaluated over this
//! host's interface addresses ([`host::read`]) with go-sockaddr's
//! functions, of which supd renders those `gotemplate::SOCKADDR_FUNCS`
//! names: the sources `GetAllInterfaces`, `GetDefaultInterfaces`,
//! `GetPrivateInterfaces`, `GetPublicInterfaces`; the helpers
//! `GetPrivateIP(s)`, `GetPublicIP(s)`, `GetInterfaceIP(s)`; the list
//! functions `include`, `exclude`, `sort`, `unique`, `limit`, `offset`
//! ([`select`]); and `join`, `attr` (`Attr`) that make text of them. Its
//! template's dot is every address, as go-sockaddr's.
//!
//! An address is a map in the template (go-sockaddr's `IfAddr` fields
//! `Name`, `Flags`, `SockAddr`: [`IfAddr::to_value`]); the functions read
//! it back. What the template writes is bounded by the render's output
//! limit, as every function's result is.

mod host;
mod ifaddr;
mod select;

use super::{MAX_PIECES, Num, Put, args, bounded_builtins, fail, number, over, string, text, within};
use crate::taskdir::scope::Capped;
use gotmpl::{FuncMap, TemplateError, Value};
use ifaddr::{IfAddr, Interfaces};
use std::collections::BTreeMap;
use std::sync::Arc;

const NAME: &str = "sockaddr";

/// Why a go-sockaddr function failed; a template's error says it after
/// the function's name (`include: …`).
#[derive(Debug, thiserror::Error)]
pub enum SockaddrError {
    /// This host's interface addresses could not be listed.
    #[error("cannot list this host's interface addresses: {0}")]
    Interfaces(#[source] nix::errno::Errno),
    /// `GetDefaultInterfaces` on a host without a default route.
    #[error("this host has no default route (none in /proc/net/route or /proc/net/ipv6_route)")]
    NoDefaultRoute,
    /// A selector go-sockaddr does not have.
    #[error("invalid selector {0:?} — use address, flag, name, network, port, rfc, size or type")]
    Selector(String),
    /// A selector's regular expression that does not compile, or is too
    /// large.
    #[error("{param:?}: {source}")]
    Pattern {
        param: String,
        #[source]
        source: regex::Error,
    },
    /// A `network` selector's network that does not parse.
    #[error("{0:?} is not a network such as \"10.0.0.0/8\"")]
    Network(String),
    /// An `rfc` selector's RFC that supd does not know.
    #[error("unsupported RFC {0:?} — supd knows RFCs {rfcs}", rfcs = ifaddr::RFCS)]
    Rfc(String),
    /// A `size` selector's prefix length that does not parse.
    #[error("invalid size {0:?}: a prefix length")]
    Size(String),
    /// A `type` selector's type go-sockaddr does not have.
    #[error("unsupported type {0:?} — use ip, ipv4, ipv6 or unix")]
    Type(String),
    /// A `flag` selector's flag go-sockaddr does not have.
    #[error("unknown interface flag {0:?}")]
    Flag(String),
    /// A `sort` clause (as written) go-sockaddr does not have.
    #[error("unknown sort type {0:?} — use address, default, name, port, private, size or type, each with + or -")]
    SortKey(String),
    /// A `unique` selector go-sockaddr does not have.
    #[error("unsupported unique constraint {0:?} — use address or name")]
    Unique(String),
    /// An attribute of `attr` or `join` that supd does not know.
    #[error("unsupported attribute name {0:?} — {attributes}", attributes = ifaddr::ATTRIBUTES)]
    Attribute(String),
    /// `limit` of a negative count.
    #[error("wants a count of 0 or more, got {0}")]
    NegativeCount(i64),
    /// `offset` past either end of the list.
    #[error(
        "unable to seek past the end of the interface array: offset ({offset}) exceeds the number of interfaces ({len})"
    )]
    OffsetPastEnd { offset: i64, len: usize },
}

/// `sockaddr`, reading this host's interfaces at each call.
pub(super) fn func(limit: u64) -> gotmpl::ValueFunc {
    Arc::new(move |a: &[Value]| {
        if a.is_empty() {
            return Err(fail(NAME, "takes a go-sockaddr template, e.g. {{ sockaddr \"GetPrivateIP\" }}"));
        }
        let parts = a.iter().map(|v| string(NAME, v)).collect::<Result<Vec<_>, _>>()?;
        within(NAME, parts.iter().map(|p| p.len() as u64 + 1).sum(), limit)?;
        let interfaces = host::read().map_err(|e| fail(NAME, e))?;
        text(eval(&parts.join(" "), interfaces, limit)?)
    })
}

/// What `sockaddr` of `args` (its arguments joined by spaces) makes over
/// `interfaces`, at most `limit` bytes.
pub fn eval(args: &str, interfaces: Interfaces, limit: u64) -> Result<String, TemplateError> {
    let source = format!("{{{{ {args} }}}}");
    let interfaces = Arc::new(interfaces);
    let template = gotmpl::Template::new("")
        .missing_key(gotmpl::MissingKey::Error)
        .max_range_iters(MAX_PIECES)
        .funcs(funcs(&interfaces, limit))
        .funcs(bounded_builtins(limit))
        .parse(&source)
        .map_err(|e| fail(NAME, format!("its go-sockaddr template does not parse: {e}")))?;
    let mut out = Capped { text: String::new(), limit, over: false };
    let done = template.execute_fmt(&mut out, &list(&interfaces.addrs));
    if out.over {
        return Err(over(NAME, limit));
    }
    done.map_err(inner)?;
    Ok(out.text)
}

/// An error of the template inside, told as `sockaddr`'s.
fn inner(e: TemplateError) -> TemplateError {
    match e {
        TemplateError::Exec(message) => fail(NAME, message),
        other => fail(NAME, other),
    }
}

/// go-sockaddr's functions over `interfaces`.
fn funcs(interfaces: &Arc<Interfaces>, limit: u64) -> FuncMap {
    let mut m: FuncMap = BTreeMap::new();
    let mut put = |name: &str, f: gotmpl::ValueFunc| {
        m.insert(name.to_string(), f);
    };
    source_funcs(&mut put, interfaces);
    ip_funcs(&mut put, interfaces, limit);
    list_funcs(&mut put, interfaces);
    text_funcs(&mut put, limit);
    m
}

/// Addresses as the template sees them: a list of maps.
fn list(addrs: &[IfAddr]) -> Value {
    Value::List(addrs.iter().map(IfAddr::to_value).collect())
}

/// The addresses of a list the template passes back.
fn addrs(name: &str, v: &Value) -> Result<Vec<IfAddr>, TemplateError> {
    const WANTS: &str = "wants a list of addresses (from GetAllInterfaces and the like)";
    let Value::List(items) = v else {
        return Err(fail(name, format!("{WANTS}, got {}", v.type_name())));
    };
    items.iter().map(|i| IfAddr::from_value(i).ok_or_else(|| fail(name, WANTS))).collect()
}

/// A whole number argument (`limit 1`, `offset "-2"`).
fn count(name: &str, v: &Value) -> Result<i64, TemplateError> {
    match number(name, v)? {
        Num::I(n) => Ok(n),
        Num::F(_) => Err(fail(name, "wants a whole number")),
    }
}

/// A source of addresses, as go-sockaddr's.
type Source = fn(&Interfaces) -> Result<Vec<IfAddr>, SockaddrError>;

/// `GetAllInterfaces`, `GetDefaultInterfaces`, `GetPrivateInterfaces`,
/// `GetPublicInterfaces`.
fn source_funcs(put: &mut Put<'_>, interfaces: &Arc<Interfaces>) {
    let sources: [(&'static str, Source); 4] = [
        ("GetAllInterfaces", all_interfaces),
        ("GetDefaultInterfaces", default_interfaces),
        ("GetPrivateInterfaces", private_interfaces),
        ("GetPublicInterfaces", public_interfaces),
    ];
    for (name, source) in sources {
        let i = interfaces.clone();
        put(
            name,
            Arc::new(move |a: &[Value]| {
                args::<0>(name, a)?;
                source(&i).map(|v| list(&v)).map_err(|e| fail(name, e))
            }),
        );
    }
}

fn all_interfaces(i: &Interfaces) -> Result<Vec<IfAddr>, SockaddrError> {
    Ok(i.addrs.clone())
}

fn private_interfaces(i: &Interfaces) -> Result<Vec<IfAddr>, SockaddrError> {
    Ok(forwardable_up(i, true))
}

fn public_interfaces(i: &Interfaces) -> Result<Vec<IfAddr>, SockaddrError> {
    Ok(forwardable_up(i, false))
}

/// The addresses of the interface of the default route.
fn default_interfaces(i: &Interfaces) -> Result<Vec<IfAddr>, SockaddrError> {
    let Some(name) = &i.default else {
        return Err(SockaddrError::NoDefaultRoute);
    };
    Ok(i.addrs.iter().filter(|a| &a.name == name).cloned().collect())
}

/// go-sockaddr's GetPrivateInterfaces (`private`) and GetPublicInterfaces:
/// the forwardable addresses of interfaces that are up, inside RFC 6890's
/// networks or outside them; the default route's first, then IPv4 before
/// IPv6, then larger networks first.
fn forwardable_up(i: &Interfaces, private: bool) -> Vec<IfAddr> {
    let mut out: Vec<IfAddr> = i
        .addrs
        .iter()
        .filter(|a| a.flags & ifaddr::UP != 0 && ifaddr::is_forwardable(a.ip) && ifaddr::is_private(a.ip) == private)
        .cloned()
        .collect();
    let default = i.default.as_deref();
    out.sort_by_key(|a| (!select::is_default(a, default), a.type_rank(), a.prefix));
    out
}

/// `limit` and `offset`: a count and a list to a list.
type Counted = fn(i64, Vec<IfAddr>) -> Result<Vec<IfAddr>, SockaddrError>;

/// Addresses of one kind, IPv4 first, larger networks first.
fn by_type_and_size(i: &Interfaces, keep: impl Fn(&IfAddr) -> bool) -> Vec<IfAddr> {
    let mut out: Vec<IfAddr> = i.addrs.iter().filter(|a| keep(a)).cloned().collect();
    out.sort_by_key(|a| (a.type_rank(), a.prefix));
    out
}

/// Addresses written out, joined by spaces, measured first.
fn spaced(name: &str, addrs: &[IfAddr], limit: u64) -> Result<Value, TemplateError> {
    let texts: Vec<String> = addrs.iter().map(|a| a.ip.to_string()).collect();
    within(name, texts.iter().map(|t| t.len() as u64 + 1).sum(), limit)?;
    text(texts.join(" "))
}

/// `GetPrivateIP`, `GetPublicIP`, `GetPrivateIPs`, `GetPublicIPs`,
/// `GetInterfaceIP`, `GetInterfaceIPs`: addresses as text.
fn ip_funcs(put: &mut Put<'_>, interfaces: &Arc<Interfaces>, limit: u64) {
    for (name, private) in [("GetPrivateIP", true), ("GetPublicIP", false)] {
        let i = interfaces.clone();
        put(
            name,
            Arc::new(move |a: &[Value]| {
                args::<0>(name, a)?;
                text(forwardable_up(&i, private).first().map(|x| x.ip.to_string()).unwrap_or_default())
            }),
        );
    }
    for (name, private) in [("GetPrivateIPs", true), ("GetPublicIPs", false)] {
        let i = interfaces.clone();
        put(
            name,
            Arc::new(move |a: &[Value]| {
                args::<0>(name, a)?;
                // Private ones forwardable; public ones any.
                let ips = by_type_and_size(&i, |x| {
                    ifaddr::is_private(x.ip) == private && (!private || ifaddr::is_forwardable(x.ip))
                });
                spaced(name, &ips, limit)
            }),
        );
    }
    for (name, all) in [("GetInterfaceIP", false), ("GetInterfaceIPs", true)] {
        let i = interfaces.clone();
        put(
            name,
            Arc::new(move |a: &[Value]| {
                let [pattern] = args::<1>(name, a)?;
                let named = select::filter("name", &string(name, pattern)?, i.addrs.clone(), true)
                    .map_err(|e| fail(name, e))?;
                let named = Interfaces { addrs: named, default: None };
                if all {
                    return spaced(name, &by_type_and_size(&named, |_| true), limit);
                }
                let first = by_type_and_size(&named, |x| ifaddr::is_forwardable(x.ip)).into_iter().next();
                text(first.map(|x| x.ip.to_string()).unwrap_or_default())
            }),
        );
    }
}

/// `include`, `exclude`, `sort`, `unique`, `limit`, `offset`: a list of
/// addresses from one.
fn list_funcs(put: &mut Put<'_>, interfaces: &Arc<Interfaces>) {
    for (name, keep) in [("include", true), ("exclude", false)] {
        put(
            name,
            Arc::new(move |a: &[Value]| {
                let [selector, param, l] = args::<3>(name, a)?;
                let (selector, param) = (string(name, selector)?, string(name, param)?);
                select::filter(&selector, &param, addrs(name, l)?, keep).map(|v| list(&v)).map_err(|e| fail(name, e))
            }),
        );
    }
    let i = interfaces.clone();
    put(
        "sort",
        Arc::new(move |a: &[Value]| {
            let [clauses, l] = args::<2>("sort", a)?;
            let clauses = string("sort", clauses)?;
            let sorted = select::sort(&clauses, addrs("sort", l)?, i.default.as_deref());
            sorted.map(|v| list(&v)).map_err(|e| fail("sort", e))
        }),
    );
    put(
        "unique",
        Arc::new(|a: &[Value]| {
            let [selector, l] = args::<2>("unique", a)?;
            let selector = string("unique", selector)?;
            select::unique(&selector, addrs("unique", l)?).map(|v| list(&v)).map_err(|e| fail("unique", e))
        }),
    );
    let counted: [(&'static str, Counted); 2] = [("limit", select::limit), ("offset", select::offset)];
    for (name, f) in counted {
        put(
            name,
            Arc::new(move |a: &[Value]| {
                let [n, l] = args::<2>(name, a)?;
                f(count(name, n)?, addrs(name, l)?).map(|v| list(&v)).map_err(|e| fail(name, e))
            }),
        );
    }
}

/// `join` and `attr` (`Attr`): text of addresses.
fn text_funcs(put: &mut Put<'_>, limit: u64) {
    put(
        "join",
        Arc::new(move |a: &[Value]| {
            let [attribute, separator, l] = args::<3>("join", a)?;
            let (attribute, separator) = (string("join", attribute)?, string("join", separator)?);
            let values = addrs("join", l)?
                .iter()
                .map(|x| x.attr(&attribute))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| fail("join", e))?;
            let joints = (values.len() as u64).saturating_sub(1).saturating_mul(separator.len() as u64);
            within("join", values.iter().map(|v| v.len() as u64).sum::<u64>().saturating_add(joints), limit)?;
            text(values.join(separator.as_str()))
        }),
    );
    for name in ["attr", "Attr"] {
        put(
            name,
            Arc::new(move |a: &[Value]| {
                let [attribute, x] = args::<2>(name, a)?;
                let attribute = string(name, attribute)?;
                // Of a list, its first address's; of none, nothing.
                let one = match x {
                    Value::List(items) => match items.first() {
                        Some(v) => v,
                        None => return text(""),
                    },
                    other => other,
                };
                let Some(addr) = IfAddr::from_value(one) else {
                    return Err(fail(name, format!("unable to obtain attribute {attribute} from {}", x.type_name())));
                };
                text(addr.attr(&attribute).map_err(|e| fail(name, e))?)
            }),
        );
    }
}

#[cfg(test)]
mod tests;
