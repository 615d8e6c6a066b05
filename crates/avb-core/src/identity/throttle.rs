//! Login throttling per client: every password login attempt counts against the client's address
//! and against its network (/24 for IPv4, /64 for IPv6) in fixed one-minute windows aligned to the
//! clock. Over either budget the attempt is refused before any credential is checked, with the
//! seconds until the window ends. With Redis configured the counters live there (keys
//! `avb:login:ip:<addr>:<minute>` and `avb:login:net:<prefix>:<minute>`), so every replica draws
//! from one budget; without it, or while Redis fails, each process counts alone.
//!
//! The client address is the peer's unless the peer is a trusted proxy (`server.trusted_proxies`):
//! then the right-most `X-Forwarded-For` entry that is not itself a trusted proxy is the client.

use crate::redis_keys;
use crate::redis_slot::RedisSlot;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;
use std::sync::Mutex;

/// An address range `addr/prefix` (a bare address is a /32 or /128).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Whether `ip` lies in the range (IPv4-mapped IPv6 addresses match IPv4 ranges).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for Cidr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let bad = || format!("{s:?} is not an IP address or CIDR range (e.g. 10.0.0.0/8)");
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p.parse::<u8>().map_err(|_| bad())?)),
            None => (s, None),
        };
        let addr = canonical(addr.parse::<IpAddr>().map_err(|_| bad())?);
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        if prefix > max {
            return Err(bad());
        }
        Ok(Self { addr, prefix })
    }
}

impl TryFrom<String> for Cidr {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Cidr> for String {
    fn from(c: Cidr) -> Self {
        c.to_string()
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

/// The client's address: the peer, or when the peer is a trusted proxy the right-most
/// `X-Forwarded-For` entry that is not a trusted proxy (entries further left are whatever the
/// client chose to send and are never believed).
pub fn client_ip(peer: IpAddr, forwarded_for: Option<&str>, trusted: &[Cidr]) -> IpAddr {
    let peer = canonical(peer);
    let is_trusted = |ip: IpAddr| trusted.iter().any(|c| c.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    let Some(chain) = forwarded_for else {
        return peer;
    };
    let mut client = peer;
    for hop in chain.rsplit(',') {
        let hop = hop.trim();
        // `1.2.3.4:5678` and `[::1]:5678` forms some proxies write.
        let parsed = hop
            .parse::<IpAddr>()
            .ok()
            .or_else(|| hop.parse::<std::net::SocketAddr>().ok().map(|s| s.ip()));
        let Some(ip) = parsed.map(canonical) else {
            // Garbage in the chain: stop at the last address we could trust.
            return client;
        };
        client = ip;
        if !is_trusted(ip) {
            return ip;
        }
    }
    client
}

/// The network a client address belongs to for throttling: its /24 (IPv4) or /64 (IPv6).
pub fn network_of(ip: IpAddr) -> String {
    match canonical(ip) {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            format!("{}/24", Ipv4Addr::new(a, b, c, 0))
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & (u128::MAX << 64);
            format!("{}/64", Ipv6Addr::from(bits))
        }
    }
}

/// Attempts allowed per minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginBudget {
    /// From one client address.
    pub per_ip: u64,
    /// From one /24 (IPv4) or /64 (IPv6) network.
    pub per_network: u64,
}

/// The clock-aligned minute: its number and the whole seconds left in it (at least 1).
fn clock_window() -> (u64, u64) {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    (secs / 60, 60 - secs % 60)
}

/// The login limiter shared by every request of this process.
#[derive(Default)]
pub struct LoginLimiter {
    /// key -> (window, count)
    local: Mutex<HashMap<String, (u64, u64)>>,
    redis: RedisSlot,
}

impl LoginLimiter {
    /// A limiter counting in Redis when a client is given, else in this process.
    pub fn new(redis: Option<redis::Client>) -> Self {
        Self {
            redis: RedisSlot::new(redis, "login limiter"),
            ..Self::default()
        }
    }

    /// Counts one attempt from `ip`; `Err(seconds)` when the address or its network is over
    /// `budget` this minute (the refused attempt does not count).
    pub async fn attempt(&self, ip: &str, budget: LoginBudget) -> Result<(), u64> {
        let parsed = ip.parse::<IpAddr>().ok();
        let ip_key = parsed
            .map(|i| canonical(i).to_string())
            .unwrap_or_else(|| ip.to_string());
        let net_key = parsed.map(network_of).unwrap_or_else(|| ip.to_string());
        let (window, left) = clock_window();
        let keys = [
            (redis_keys::login_ip(&ip_key, window), budget.per_ip),
            (
                redis_keys::login_network(&net_key, window),
                budget.per_network,
            ),
        ];
        if let Some(mut c) = self.redis.get().await {
            let counted: redis::RedisResult<(u64, i64, u64, i64)> = redis::pipe()
                .atomic()
                .incr(&keys[0].0, 1u64)
                .expire(&keys[0].0, 120)
                .incr(&keys[1].0, 1u64)
                .expire(&keys[1].0, 120)
                .query_async(&mut c)
                .await;
            match counted {
                Ok((by_ip, _, by_net, _)) => {
                    if by_ip > keys[0].1 || by_net > keys[1].1 {
                        // Give the slots back: a refused attempt does not count.
                        let _: redis::RedisResult<(i64, i64)> = redis::pipe()
                            .decr(&keys[0].0, 1u64)
                            .decr(&keys[1].0, 1u64)
                            .query_async(&mut c)
                            .await;
                        return Err(left);
                    }
                    return Ok(());
                }
                Err(e) => {
                    tracing::warn!(error = %e, "login limiter: Redis failed; counting locally");
                    self.redis.forget().await;
                }
            }
        }
        let mut map = self.local.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > 100_000 {
            map.retain(|_, (w, _)| *w == window);
        }
        let over = keys.iter().any(|(k, limit)| {
            map.get(k)
                .is_some_and(|(w, n)| *w == window && *n >= *limit)
        });
        if over {
            return Err(left);
        }
        for (k, _) in keys {
            let e = map.entry(k).or_insert((window, 0));
            if e.0 != window {
                *e = (window, 0);
            }
            e.1 += 1;
        }
        Ok(())
    }

    /// Counts one use of `key` (a full Redis key, e.g. a tenant's test calls this minute)
    /// against `limit` per clock minute; `Err(seconds)` when over (the refused use does not
    /// count). Redis when configured, else this process.
    pub async fn hit(&self, key: String, limit: u64) -> Result<(), u64> {
        let (window, left) = clock_window();
        let key = format!("{key}:{window}");
        if let Some(mut c) = self.redis.get().await {
            let counted: redis::RedisResult<(u64, i64)> = redis::pipe()
                .atomic()
                .incr(&key, 1u64)
                .expire(&key, 120)
                .query_async(&mut c)
                .await;
            match counted {
                Ok((n, _)) if n > limit => {
                    let _: redis::RedisResult<i64> =
                        redis::cmd("DECR").arg(&key).query_async(&mut c).await;
                    return Err(left);
                }
                Ok(_) => return Ok(()),
                Err(e) => {
                    tracing::warn!(error = %e, "rate limiter: Redis failed; counting locally");
                    self.redis.forget().await;
                }
            }
        }
        let mut map = self.local.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > 100_000 {
            map.retain(|_, (w, _)| *w == window);
        }
        let e = map.entry(key).or_insert((window, 0));
        if e.0 != window {
            *e = (window, 0);
        }
        if e.1 >= limit {
            return Err(left);
        }
        e.1 += 1;
        Ok(())
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
    fn cidr_parse_and_contains() {
        let c: Cidr = "10.0.0.0/8".parse().unwrap();
        assert!(c.contains(ip("10.1.2.3")) && !c.contains(ip("11.0.0.1")));
        assert!(c.contains(ip("::ffff:10.9.9.9")));
        let one: Cidr = "127.0.0.1".parse().unwrap();
        assert!(one.contains(ip("127.0.0.1")) && !one.contains(ip("127.0.0.2")));
        let v6: Cidr = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains(ip("2001:db8:1::5")) && !v6.contains(ip("2001:db9::1")));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("8.8.8.8")));
        for bad in ["10.0.0.0/33", "x", "::/129", "1.2.3.4/"] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
        assert_eq!(
            "10.0.0.0/8".parse::<Cidr>().unwrap().to_string(),
            "10.0.0.0/8"
        );
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_peers() {
        let trusted: Vec<Cidr> = vec!["10.0.0.0/8".parse().unwrap()];
        let xff = Some("198.51.100.7, 203.0.113.9, 10.0.0.2");
        // An untrusted peer's header is ignored.
        assert_eq!(client_ip(ip("192.0.2.1"), xff, &trusted), ip("192.0.2.1"));
        // A trusted peer: the right-most untrusted hop, never what the client wrote further left.
        assert_eq!(client_ip(ip("10.0.0.1"), xff, &trusted), ip("203.0.113.9"));
        assert_eq!(client_ip(ip("10.0.0.1"), None, &trusted), ip("10.0.0.1"));
        assert_eq!(
            client_ip(ip("10.0.0.1"), Some("[2001:db8::1]:443"), &trusted),
            ip("2001:db8::1")
        );
        assert_eq!(
            client_ip(ip("10.0.0.1"), Some("junk"), &trusted),
            ip("10.0.0.1")
        );
        assert_eq!(client_ip(ip("10.0.0.1"), xff, &[]), ip("10.0.0.1"));
    }

    #[test]
    fn networks() {
        assert_eq!(network_of(ip("203.0.113.77")), "203.0.113.0/24");
        assert_eq!(network_of(ip("2001:db8:1:2:3:4:5:6")), "2001:db8:1:2::/64");
    }

    #[tokio::test]
    async fn local_budget_per_ip_and_network() {
        if clock_window().1 < 3 {
            tokio::time::sleep(std::time::Duration::from_secs(3)).await;
        }
        let l = LoginLimiter::default();
        let b = LoginBudget {
            per_ip: 2,
            per_network: 3,
        };
        assert!(l.attempt("192.0.2.1", b).await.is_ok());
        assert!(l.attempt("192.0.2.1", b).await.is_ok());
        let wait = l.attempt("192.0.2.1", b).await.unwrap_err();
        assert!((1..=60).contains(&wait));
        assert!(
            l.attempt("192.0.2.2", b).await.is_ok(),
            "its own address budget"
        );
        assert!(l.attempt("192.0.2.3", b).await.is_err(), "the /24 is spent");
        assert!(
            l.attempt("198.51.100.1", b).await.is_ok(),
            "another network"
        );
    }
}
