//! Webhooks, the pure parts: which addresses Keybrake will send to, how a
//! delivery is signed, which endpoint wants which event, and how long to
//! wait before trying a failed one again.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::core::token::hex;

/// Every event a webhook may subscribe to.
pub const EVENT_TYPES: &[&str] = &[
    "approval.requested",
    "key.spend_threshold",
    "key.revoked",
    "key.denied_burst",
    "budget.spend_threshold",
    "issuer.revoked",
];

/// Refusals in a minute that make a key's calls a burst worth telling.
pub const DENIED_BURST: u64 = 10;

/// Shares of the daily cap that raise `key.spend_threshold`, once each per
/// key per day.
pub const SPEND_THRESHOLDS: [u64; 3] = [50, 80, 100];

/// The thresholds a spend moving from `before` to `after` (of `cap`, all
/// in micro-dollars) has just reached.
pub fn thresholds_crossed(before: u64, after: u64, cap: u64) -> Vec<u64> {
    if cap == 0 {
        return Vec::new();
    }
    SPEND_THRESHOLDS
        .into_iter()
        .filter(|p| {
            let at = (cap as u128 * *p as u128).div_ceil(100);
            (before as u128) < at && (after as u128) >= at
        })
        .collect()
}

/// An endpoint Keybrake may deliver to, normalized; or why not. Without
/// `allow_insecure`, only `https` to a public host: an event (with its
/// agent-chosen label) must not be a way to make Keybrake call an
/// internal address.
pub fn check_url(text: &str, allow_insecure: bool) -> Result<String, String> {
    let url = url::Url::parse(text).map_err(|e| format!("is not a URL: {e}"))?;
    match url.scheme() {
        "https" => {}
        "http" if allow_insecure => {}
        "http" => return Err(
            "must be https (KEYBRAKE_ALLOW_INSECURE_WEBHOOKS=1 allows http, for local development)"
                .into(),
        ),
        other => return Err(format!("must be https, not {other}")),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry credentials".into());
    }
    if url.fragment().is_some() {
        return Err("must not have a fragment".into());
    }
    let host = match url.host() {
        Some(url::Host::Domain(d)) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            let internal = d == "localhost"
                || [".localhost", ".local", ".internal", ".home.arpa"]
                    .iter()
                    .any(|s| d.ends_with(s))
                || !d.contains('.');
            if internal && !allow_insecure {
                return Err(format!("{d} is not a public host"));
            }
            None
        }
        Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
        None => return Err("must name a host".into()),
    };
    if let Some(ip) = host {
        if !allow_insecure && !public(ip) {
            return Err(format!("{ip} is not a public address"));
        }
    }
    if url.as_str().len() > 2048 {
        return Err("must be at most 2048 characters".into());
    }
    Ok(url.into())
}

fn public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        // Carrier-grade NAT, 100.64.0.0/10.
        || (a == 100 && (64..128).contains(&b))
        // Reserved, 240.0.0.0/4.
        || a >= 240)
}

fn public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return public_v4(v4);
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                // Unique local fc00::/7 and link-local fe80::/10.
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || v6 == Ipv6Addr::UNSPECIFIED)
        }
    }
}

/// An endpoint's signing secret, derived from the server's secret and the
/// endpoint's id: shown once, stored nowhere.
pub fn signing_secret(server_secret: &[u8], webhook_id: &str) -> String {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(server_secret)
        .expect("HMAC takes a key of any length");
    m.update(b"keybrake/webhook-secret\0");
    m.update(webhook_id.as_bytes());
    format!("whsec_{}", hex(&m.finalize().into_bytes()))
}

/// `Keybrake-Signature`: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">`,
/// as Stripe signs its webhooks.
pub fn signature(secret: &str, t_secs: i64, body: &str) -> String {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .expect("HMAC takes a key of any length");
    m.update(t_secs.to_string().as_bytes());
    m.update(b".");
    m.update(body.as_bytes());
    format!("t={t_secs},v1={}", hex(&m.finalize().into_bytes()))
}

/// Whether an endpoint subscribed to `events` (and, if it has one, a label
/// prefix) wants an event of `kind` about something labelled `label`.
pub fn wants(
    events: &[String],
    label_prefix: Option<&str>,
    kind: &str,
    label: Option<&str>,
) -> bool {
    events.iter().any(|e| e == kind || e == "*")
        && match label_prefix {
            None => true,
            Some(p) => label.is_some_and(|l| l.starts_with(p)),
        }
}

/// Seconds before trying a failed delivery again: doubling from `base`,
/// at most an hour.
pub fn retry_delay_secs(attempt: u32, base: u32) -> u32 {
    base.saturating_mul(1u32 << attempt.min(12)).min(3600)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_https_unless_insecure_is_allowed() {
        assert_eq!(
            check_url("https://hooks.example.com/kb?x=1", false).unwrap(),
            "https://hooks.example.com/kb?x=1"
        );
        for bad in [
            "http://hooks.example.com/",
            "ftp://hooks.example.com/",
            "https://localhost/",
            "https://LOCALHOST./",
            "https://api.localhost/",
            "https://printer.local/",
            "https://metadata.internal/",
            "https://intranet/",
            "https://127.0.0.1/",
            "https://10.0.0.5/",
            "https://172.16.1.1/",
            "https://192.168.1.1/",
            "https://169.254.169.254/latest/meta-data",
            "https://100.64.0.1/",
            "https://0.0.0.0/",
            "https://[::1]/",
            "https://[fd00::1]/",
            "https://[fe80::1]/",
            "https://[::ffff:127.0.0.1]/",
            "https://2130706433/",
            "https://0x7f.0.0.1/",
            "https://user:pw@hooks.example.com/",
            "https://hooks.example.com/#x",
            "not a url",
        ] {
            assert!(check_url(bad, false).is_err(), "{bad}");
        }
        assert!(check_url("http://127.0.0.1:8788/hook", true).is_ok());
        assert!(check_url("ftp://127.0.0.1/", true).is_err());
    }

    #[test]
    fn signatures_are_hmac_sha256_of_time_dot_body() {
        // Known answer from Node's crypto: HMAC-SHA256("whsec_test", "1700000000.{}").
        assert_eq!(
            signature("whsec_test", 1_700_000_000, "{}"),
            "t=1700000000,v1=35495024f4ef3f94e5a93e22221544c4b75e9a42300cd965ab81cb85cd994e91"
        );
        let a = signing_secret(b"admin", "wh_1");
        assert!(a.starts_with("whsec_") && a.len() == 6 + 64);
        assert_ne!(a, signing_secret(b"admin", "wh_2"));
        assert_ne!(a, signing_secret(b"other", "wh_1"));
    }

    #[test]
    fn thresholds_fire_once_as_spend_crosses_them() {
        let cap = 10_000_000;
        assert_eq!(thresholds_crossed(0, 4_999_999, cap), Vec::<u64>::new());
        assert_eq!(thresholds_crossed(0, 5_000_000, cap), vec![50]);
        assert_eq!(thresholds_crossed(5_000_000, 9_000_000, cap), vec![80]);
        assert_eq!(thresholds_crossed(0, 10_000_000, cap), vec![50, 80, 100]);
        assert_eq!(
            thresholds_crossed(10_000_000, 10_000_000, cap),
            Vec::<u64>::new()
        );
        assert_eq!(thresholds_crossed(0, 1, 0), Vec::<u64>::new());
        // A cap of 3 micro-dollars: half is reached at 2, not at 1.
        assert_eq!(thresholds_crossed(0, 1, 3), Vec::<u64>::new());
        assert_eq!(thresholds_crossed(1, 2, 3), vec![50]);
    }

    #[test]
    fn endpoints_get_the_events_and_labels_they_asked_for() {
        let events = vec!["approval.requested".to_owned()];
        assert!(wants(&events, None, "approval.requested", Some("x")));
        assert!(!wants(&events, None, "key.revoked", Some("x")));
        assert!(wants(
            &events,
            Some("billing-"),
            "approval.requested",
            Some("billing-run")
        ));
        assert!(!wants(
            &events,
            Some("billing-"),
            "approval.requested",
            Some("support-run")
        ));
        assert!(!wants(
            &events,
            Some("billing-"),
            "approval.requested",
            None
        ));
        assert!(wants(&["*".to_owned()], None, "issuer.revoked", None));
        assert_eq!(retry_delay_secs(0, 5), 5);
        assert_eq!(retry_delay_secs(3, 5), 40);
        assert_eq!(retry_delay_secs(30, 5), 3600);
        assert_eq!(retry_delay_secs(2, 0), 0);
    }
}
