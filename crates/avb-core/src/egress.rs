//! Outbound HTTP to tenant-chosen URLs (BYOK LLM endpoints, webhooks, alert destinations):
//! resolve, then check every address against a deny list, and connect only to the checked
//! addresses (the resolver is the client's, so a DNS rebind between check and connect cannot
//! win). Such clients never follow redirects and never use a proxy from the environment.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// Why a tenant URL may not be reached.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EgressError {
    #[error("{0} is a private, loopback or reserved address")]
    Forbidden(IpAddr),
    #[error("{0} resolves only to private, loopback or reserved addresses")]
    ForbiddenName(String),
    #[error("{0} does not resolve")]
    Unresolved(String),
}

/// Whether `ip` must not be reached from tenant-controlled clients: anything but a global
/// unicast address (loopback, private, link-local, CGNAT, multicast, reserved, documentation,
/// benchmarking, and IPv6 forms that embed one of those: IPv4-mapped, IPv4-compatible, NAT64,
/// 6to4, Teredo).
pub fn forbidden_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6),
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    a == 0 // "this network", 0.0.0.0/8 (0.1.2.3 reaches the local host on Linux)
        || a == 10
        || a == 127
        || (a == 100 && (b & 0xc0) == 64) // carrier-grade NAT 100.64/10
        || (a == 169 && b == 254) // link local (cloud metadata)
        || (a == 172 && (b & 0xf0) == 16)
        || (a == 192 && b == 168)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2) // TEST-NET-1
        || (a == 192 && b == 88 && c == 99) // 6to4 relay anycast
        || (a == 198 && (b & 0xfe) == 18) // benchmarking 198.18/15
        || (a == 198 && b == 51 && c == 100) // TEST-NET-2
        || (a == 203 && b == 0 && c == 113) // TEST-NET-3
        || a >= 224 // multicast 224/4, reserved 240/4, broadcast
}

fn forbidden_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    let embedded_v4 =
        || Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    if let Some(v4) = ip.to_ipv4_mapped() {
        return forbidden_v4(v4);
    }
    // IPv4-compatible ::a.b.c.d (deprecated, but still routed to the IPv4 address by some stacks).
    if s[..6] == [0; 6] {
        return true;
    }
    // NAT64 64:ff9b::/96 and the local-use 64:ff9b:1::/48 translate to the embedded IPv4.
    if s[0] == 0x64 && s[1] == 0xff9b {
        return s[2] == 1 || forbidden_v4(embedded_v4());
    }
    // 6to4 2002::/16 embeds an IPv4 address in bits 16..48.
    if s[0] == 0x2002 {
        let v4 = Ipv4Addr::new((s[1] >> 8) as u8, s[1] as u8, (s[2] >> 8) as u8, s[2] as u8);
        return forbidden_v4(v4);
    }
    // Only global unicast 2000::/3 is reachable at all.
    if (s[0] & 0xe000) != 0x2000 {
        return true;
    }
    // IETF special purpose 2001::/23 (Teredo, ORCHID, ...), documentation 2001:db8::/32 and
    // 3fff::/20.
    (s[0] == 0x2001 && (s[1] < 0x0200 || s[1] == 0x0db8)) || (s[0] == 0x3fff && s[1] < 0x1000)
}

/// Whether the literal host of `url` is forbidden (names are checked when they resolve).
pub fn forbidden_literal(url: &url::Url) -> Option<IpAddr> {
    let ip = match url.host()? {
        url::Host::Ipv4(v4) => IpAddr::V4(v4),
        url::Host::Ipv6(v6) => IpAddr::V6(v6),
        url::Host::Domain(_) => return None,
    };
    forbidden_ip(ip).then_some(ip)
}

/// Resolves `host`, returning only the allowed addresses; an error when none is left.
pub async fn resolve_allowed(host: &str, port: u16) -> Result<Vec<SocketAddr>, EgressError> {
    let found: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|_| EgressError::Unresolved(host.to_string()))?
        .collect();
    if found.is_empty() {
        return Err(EgressError::Unresolved(host.to_string()));
    }
    // Every address must be allowed: a name that mixes public and private answers is refused
    // (the connection could otherwise fall back to the private one).
    if found.iter().any(|a| forbidden_ip(a.ip())) {
        return Err(EgressError::ForbiddenName(host.to_string()));
    }
    Ok(found)
}

/// Checks a URL at input time: a forbidden literal address, or a name that resolves to one
/// (within a few seconds; a name that does not resolve now is checked again at connect time).
pub async fn check_target(url: &url::Url) -> Result<(), EgressError> {
    if let Some(ip) = forbidden_literal(url) {
        return Err(EgressError::Forbidden(ip));
    }
    let Some(url::Host::Domain(host)) = url.host() else {
        return Ok(());
    };
    let host = host.to_string();
    let port = url.port_or_known_default().unwrap_or(443);
    match tokio::time::timeout(Duration::from_secs(3), resolve_allowed(&host, port)).await {
        Ok(Err(e @ EgressError::ForbiddenName(_))) => Err(e),
        _ => Ok(()),
    }
}

/// The resolver of guarded clients: the system resolver, with forbidden answers refused.
struct GuardedResolver;

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs = resolve_allowed(&host, 0).await.map_err(|e| {
                tracing::warn!(host = %host, error = %e, "outbound request to a tenant URL refused");
                Box::new(e) as Box<dyn std::error::Error + Send + Sync>
            })?;
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// A client builder for tenant-controlled URLs: no redirects, no environment proxy, and, unless
/// `allow_private` (an operator setting), names resolved through the guarded resolver. Callers
/// must still refuse forbidden literal addresses with [`forbidden_literal`] (literals are not
/// resolved).
pub fn tenant_client(allow_private: bool) -> reqwest::ClientBuilder {
    let builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy();
    if allow_private {
        builder
    } else {
        builder.dns_resolver(Arc::new(GuardedResolver))
    }
}

/// Refuses a forbidden literal host of `raw` unless `allow_private`.
pub fn check_literal(raw: &str, allow_private: bool) -> Result<(), EgressError> {
    if allow_private {
        return Ok(());
    }
    match url::Url::parse(raw)
        .ok()
        .as_ref()
        .and_then(forbidden_literal)
    {
        Some(ip) => Err(EgressError::Forbidden(ip)),
        None => Ok(()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn deny_list_covers_every_special_range() {
        for s in [
            "127.0.0.1",
            "127.1.2.3",
            "0.1.2.3",
            "0.0.0.0",
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "198.18.0.1",
            "198.19.255.255",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "::127.0.0.1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::7f00:1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::1",
            "2002:7f00:1::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "2001:db8::1",
            "2001::1",
            "100::1",
        ] {
            assert!(forbidden_ip(ip(s)), "{s} must be refused");
        }
        for s in [
            "8.8.8.8",
            "1.1.1.1",
            "93.184.216.34",
            "172.32.0.1",
            "100.128.0.1",
            "198.20.0.1",
            "2606:4700:4700::1111",
            "2a00:1450:4001:80b::200e",
            "64:ff9b::808:808",
            "2002:808:808::1",
            "::ffff:8.8.8.8",
        ] {
            assert!(!forbidden_ip(ip(s)), "{s} must be allowed");
        }
    }

    #[tokio::test]
    async fn names_resolving_to_loopback_are_refused() {
        for host in ["localhost", "localhost.localdomain"] {
            match resolve_allowed(host, 80).await {
                Err(EgressError::ForbiddenName(_)) | Err(EgressError::Unresolved(_)) => {}
                other => panic!("{host}: {other:?}"),
            }
        }
        assert_eq!(
            resolve_allowed("localhost", 80).await.unwrap_err(),
            EgressError::ForbiddenName("localhost".into())
        );
    }

    #[tokio::test]
    async fn guarded_client_never_connects_to_a_name_that_resolves_privately() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = tokio::spawn(async move {
            tokio::time::timeout(Duration::from_millis(800), listener.accept())
                .await
                .is_ok()
        });
        let client = tenant_client(false).build().unwrap();
        let res = client.get(format!("http://localhost:{port}/")).send().await;
        assert!(res.is_err(), "the guarded client reached loopback");
        assert!(
            !accepted.await.unwrap(),
            "a connection reached the listener"
        );
        assert!(check_literal(&format!("http://[::127.0.0.1]:{port}/"), false).is_err());
        assert!(check_literal(&format!("http://[::127.0.0.1]:{port}/"), true).is_ok());
    }
}
