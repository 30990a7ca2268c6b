use super::ifaddr::{BROADCAST, LOOPBACK, MULTICAST, RUNNING, UP, parse_address};
use super::*;

fn addr(name: &str, flags: u32, text: &str) -> IfAddr {
    let (ip, prefix) = parse_address(text).unwrap();
    IfAddr { name: name.into(), flags, ip, prefix }
}

/// A host with a loopback, a default interface (eth0), a second one with
/// a private and a public address, and a bridge that is down.
fn host() -> Interfaces {
    let up = UP | RUNNING;
    let ether = up | BROADCAST | MULTICAST;
    Interfaces {
        addrs: vec![
            addr("lo", up | LOOPBACK, "127.0.0.1/8"),
            addr("lo", up | LOOPBACK, "::1"),
            addr("eth0", ether, "10.0.2.15/24"),
            addr("eth0", ether, "fe80::a00:27ff:fe4e:66a1/64"),
            addr("eth1", ether, "192.168.56.10/24"),
            addr("eth1", ether, "93.184.216.34/24"),
            addr("docker0", BROADCAST | MULTICAST, "172.17.0.1/16"),
        ],
        default: Some("eth0".into()),
    }
}

fn run(args: &str) -> String {
    eval(args, host(), 1 << 20).unwrap_or_else(|e| panic!("{args}: {e}"))
}

fn fails(args: &str) -> String {
    eval(args, host(), 1 << 20).expect_err(args).to_string()
}

#[test]
fn every_sockaddr_function_has_an_implementation() {
    let names: Vec<String> = funcs(&Arc::new(host()), 1 << 20).into_keys().collect();
    assert_eq!(names, crate::jobspec::gotemplate::SOCKADDR_FUNCS);
}

/// The template of Nomad's Ceph demo (its argument as the Go string
/// literal gives it): the first IPv4 address of the default route's
/// interface.
#[test]
fn the_ceph_template_gives_the_default_interfaces_ipv4_address() {
    let ceph = r#"with $ifAddrs := GetDefaultInterfaces | include "type" "IPv4" | limit 1 -}}{{- range $ifAddrs -}}{{ attr "address" . }}{{ end }}{{ end "#;
    assert_eq!(run(ceph), "10.0.2.15");
    let no_route = Interfaces { default: None, ..host() };
    let e = eval(ceph, no_route, 1 << 20).unwrap_err().to_string();
    assert!(e.contains("sockaddr: GetDefaultInterfaces: this host has no default route"), "{e}");
}

#[test]
fn include_and_exclude_select_by_type_flag_name_network_rfc_and_size() {
    assert_eq!(run(r#"GetAllInterfaces | include "type" "IPv6" | join "address" ",""#), "::1,fe80::a00:27ff:fe4e:66a1");
    assert_eq!(
        run(r#"GetAllInterfaces | exclude "flag" "loopback" | include "type" "ipv4" | join "name" " ""#),
        "eth0 eth1 eth1 docker0"
    );
    assert_eq!(
        run(r#"GetAllInterfaces | include "flags" "up|broadcast" | include "type" "IPv4" | join "address" " ""#),
        "10.0.2.15 192.168.56.10 93.184.216.34"
    );
    assert_eq!(run(r#"GetAllInterfaces | include "flag" "down" | attr "name""#), "docker0");
    assert_eq!(
        run(r#"GetAllInterfaces | include "flag" "forwardable" | join "address" " ""#),
        "10.0.2.15 192.168.56.10 93.184.216.34 172.17.0.1"
    );
    assert_eq!(
        run(r#"GetAllInterfaces | include "name" "^eth" | include "network" "192.168.0.0/16" | attr "address""#),
        "192.168.56.10"
    );
    assert_eq!(
        run(r#"GetAllInterfaces | include "rfc" "1918" | join "address" " ""#),
        "10.0.2.15 192.168.56.10 172.17.0.1"
    );
    assert_eq!(run(r#"GetAllInterfaces | include "size" "16" | attr "string""#), "172.17.0.1/16");
    assert!(fails(r#"GetAllInterfaces | include "type" "ipx""#).contains("include: unsupported type \"ipx\""));
    assert!(fails(r#"GetAllInterfaces | exclude "color" "red""#).contains("exclude: invalid selector \"color\""));
    assert!(fails(r#"GetAllInterfaces | include "rfc" "42""#).contains("unsupported RFC \"42\""));
}

#[test]
fn limit_offset_sort_and_unique() {
    let v4 = r#"GetAllInterfaces | include "type" "IPv4""#;
    assert_eq!(run(&format!(r#"{v4} | limit 2 | join "address" " ""#)), "127.0.0.1 10.0.2.15");
    assert_eq!(run(&format!(r#"{v4} | offset -1 | attr "address""#)), "172.17.0.1");
    assert_eq!(run(&format!(r#"{v4} | offset "-2" | limit 1 | attr "address""#)), "93.184.216.34");
    assert_eq!(run(&format!(r#"{v4} | offset 4 | attr "address""#)), "172.17.0.1");
    assert!(fails(&format!("{v4} | offset 6")).contains("unable to seek past the end"));
    assert!(fails(&format!("{v4} | limit -1")).contains("limit: wants a count of 0 or more"));
    assert_eq!(run(&format!(r#"{v4} | sort "-address" | attr "address""#)), "192.168.56.10");
    assert_eq!(
        run(&format!(r#"{v4} | sort "private,address" | join "address" " ""#)),
        "10.0.2.15 127.0.0.1 172.17.0.1 192.168.56.10 93.184.216.34"
    );
    assert_eq!(run(r#"GetAllInterfaces | sort "default" | attr "name""#), "eth0");
    assert_eq!(run(r#"GetAllInterfaces | sort "-type,+size" | attr "address""#), "fe80::a00:27ff:fe4e:66a1");
    assert_eq!(run(r#"GetAllInterfaces | sort "name" | unique "name" | join "name" ",""#), "docker0,eth0,eth1,lo");
    assert!(fails(r#"GetAllInterfaces | sort "colour""#).contains("sort: unknown sort type \"colour\""));
}

#[test]
fn helpers_pick_addresses_as_go_sockaddr_does() {
    // Up, forwardable, private: the default route's interface first.
    assert_eq!(run("GetPrivateIP"), "10.0.2.15");
    assert_eq!(run("GetPublicIP"), "93.184.216.34");
    // Any interface; larger networks first.
    assert_eq!(run("GetPrivateIPs"), "172.17.0.1 10.0.2.15 192.168.56.10");
    assert_eq!(run("GetPublicIPs"), "93.184.216.34");
    assert_eq!(run(r#"GetInterfaceIP "eth1""#), "192.168.56.10");
    assert_eq!(run(r#"GetInterfaceIPs "^eth0$""#), "10.0.2.15 fe80::a00:27ff:fe4e:66a1");
    assert_eq!(run(r#"GetInterfaceIP "wlan0""#), "");
    let private_only = Interfaces { addrs: host().addrs.into_iter().filter(|a| a.name != "eth1").collect(), ..host() };
    assert_eq!(eval("GetPublicIP", private_only, 1 << 20).unwrap(), "");
}

#[test]
fn attributes_of_an_address_and_of_a_list() {
    assert_eq!(
        run(r#"range GetAllInterfaces }}{{ attr "name" . }}={{ Attr "address" . }};{{ end"#),
        "lo=127.0.0.1;lo=::1;eth0=10.0.2.15;eth0=fe80::a00:27ff:fe4e:66a1;eth1=192.168.56.10;eth1=93.184.216.34;docker0=172.17.0.1;"
    );
    let eth0 = r#"GetDefaultInterfaces | include "type" "IPv4""#;
    for (attribute, value) in [
        ("address", "10.0.2.15"),
        ("string", "10.0.2.15/24"),
        ("network", "10.0.2.0/24"),
        ("netmask", "255.255.255.0"),
        ("broadcast", "10.0.2.255"),
        ("mask_bits", "24"),
        ("type", "IPv4"),
        ("name", "eth0"),
        ("flags", "up|broadcast|multicast|running"),
    ] {
        assert_eq!(run(&format!("{eth0} | attr {attribute:?}")), value, "{attribute}");
    }
    assert_eq!(run(r#"GetAllInterfaces | include "name" "wlan0" | attr "address""#), "");
    assert_eq!(run("len ."), "7", "the dot is every address");
    assert!(fails(r#"GetAllInterfaces | attr "colour""#).contains("unsupported attribute name \"colour\""));
    assert!(fails(r#"attr "address" "10.0.0.1""#).contains("unable to obtain attribute address"));
}

#[test]
fn an_address_survives_the_template() {
    for a in host().addrs {
        assert_eq!(IfAddr::from_value(&a.to_value()), Some(a));
    }
}

/// A function go-sockaddr's template has but supd does not render, and
/// a template that does not parse, fail naming `sockaddr`; so does output
/// over the render's limit.
#[test]
fn errors_name_sockaddr_and_output_is_bounded() {
    let e = fails(r#"GetAllInterfaces | math "address" "+1""#);
    assert!(e.contains("sockaddr") && e.contains("math"), "{e}");
    let e = fails("GetAllInterfaces | limit 1 }}{{ if");
    assert!(e.contains("sockaddr: its go-sockaddr template does not parse"), "{e}");
    let e = eval(r#"GetAllInterfaces | join "address" ",""#, host(), 10).unwrap_err().to_string();
    assert!(e.contains("join: the result would be"), "{e}");
    let e = eval("range GetAllInterfaces }}0123456789{{ end", host(), 20).unwrap_err().to_string();
    assert!(e.contains("sockaddr: the result would be over 20 bytes (limits.template_bytes)"), "{e}");
}

#[test]
fn default_routes_from_the_kernels_tables() {
    let v4 = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
              wlan0\t00000000\t0101A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0\n\
              eth0\t00000000\t0102000A\t0003\t0\t0\t100\t00000000\t0\t0\t0\n\
              eth9\t00000000\t0102000A\t0002\t0\t0\t1\t00000000\t0\t0\t0\n\
              eth0\t0002000A\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0\n";
    assert_eq!(host::default_v4(v4).as_deref(), Some("eth0"));
    assert_eq!(host::default_v4("Iface\tDestination\n"), None);
    let zero = "00000000000000000000000000000000";
    let v6 = format!(
        "{zero} 00 {zero} 00 {zero} ffffffff 00000001 00000000 00200200       lo\n\
         fe800000000000000000000000000000 40 {zero} 00 {zero} 00000100 00000001 00000000 00000001     eth0\n\
         {zero} 00 {zero} 00 fe800000000000000000000000000001 00000400 00000001 00000000 00450003     eth0\n"
    );
    assert_eq!(host::default_v6(&v6).as_deref(), Some("eth0"));
}

/// `sockaddr` as a template calls it: its arguments joined by spaces, over
/// this host's interfaces as `host::read` finds them.
#[test]
fn sockaddr_reads_this_host() {
    let f = func(1 << 20);
    let args = [Value::String("GetAllInterfaces | join".into()), Value::String(r#""address" ",""#.into())];
    let Value::String(got) = f(&args).unwrap() else { panic!("sockaddr makes text") };
    let want: Vec<String> = host::read().unwrap().addrs.iter().map(|a| a.ip.to_string()).collect();
    assert_eq!(&*got, want.join(","));
    assert!(f(&[]).unwrap_err().to_string().contains("sockaddr: takes a go-sockaddr template"));
}
