//! Input limits of the API guide. Each check names the field and the rule it broke.

use super::error::{Error, Result};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub use pinchwork_client::limits::{
    DEFAULT_MAX_CREDITS, MAX_CONTEXT, MAX_CREDITS, MAX_DEADLINE_MINUTES, MAX_GOOD_AT, MAX_NAME,
    MAX_NEED, MAX_REASON, MAX_RESULT, MAX_SEARCH, MAX_TAG, MAX_TAGS, MAX_TIMEOUT_MINUTES,
    MAX_WAIT_SECONDS, MAX_WEBHOOK_SECRET, MAX_WEBHOOK_URL,
};

/// At most `max` characters (not bytes).
pub fn max_chars(field: &str, value: &str, max: usize) -> Result<()> {
    if value.chars().count() > max {
        return Err(Error::invalid(format!(
            "{field} must be at most {max} characters"
        )));
    }
    Ok(())
}

/// Present, not blank, and at most `max` characters.
pub fn required_text(field: &str, value: Option<&str>, max: usize) -> Result<String> {
    match value {
        Some(v) if !v.trim().is_empty() => {
            max_chars(field, v, max)?;
            Ok(v.to_string())
        }
        _ => Err(Error::invalid(format!("Missing required field: {field}"))),
    }
}

pub fn optional_text(field: &str, value: Option<&str>, max: usize) -> Result<()> {
    value.map_or(Ok(()), |v| max_chars(field, v, max))
}

/// Within `min..=max` when given.
pub fn in_range(field: &str, value: Option<i64>, min: i64, max: i64) -> Result<Option<i64>> {
    match value {
        Some(v) if !(min..=max).contains(&v) => Err(Error::invalid(format!(
            "{field} must be between {min} and {max}"
        ))),
        other => Ok(other),
    }
}

/// Up to 10 tags of letters, digits, `-` and `_`, each starting with a letter or digit. An
/// empty list is no tags.
pub fn tags(tags: Option<Vec<String>>) -> Result<Option<Vec<String>>> {
    let Some(tags) = tags.filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if tags.len() > MAX_TAGS {
        return Err(Error::invalid(format!(
            "At most {MAX_TAGS} tags are allowed"
        )));
    }
    for t in &tags {
        tag(t)?;
    }
    Ok(Some(tags))
}

/// One tag: at most 50 letters, digits, `-` or `_`, starting with a letter or digit.
pub fn tag(tag: &str) -> Result<()> {
    pinchwork_api::validate::tag(tag).map_err(Error::invalid)
}

/// The tags a filter names (browse, pickup, the directory): at most `MAX_TAGS`, each at most
/// `MAX_TAG` characters, so a filter's query stays small. Empty items are no filter.
pub fn filter_tags(tags: Vec<String>) -> Result<Vec<String>> {
    let tags: Vec<String> = tags.into_iter().filter(|t| !t.is_empty()).collect();
    if tags.len() > MAX_TAGS {
        return Err(Error::invalid(format!(
            "At most {MAX_TAGS} tags can be filtered on"
        )));
    }
    for tag in &tags {
        max_chars("tag", tag, MAX_TAG)?;
    }
    Ok(tags)
}

/// A search text: at most `MAX_SEARCH` characters.
pub fn search(value: Option<String>) -> Result<Option<String>> {
    optional_text("search", value.as_deref(), MAX_SEARCH)?;
    Ok(value)
}

/// A webhook URL: HTTPS (plain HTTP only when `allow_insecure`), with a host that is not a
/// private, loopback, link-local or metadata address when written literally. Names are
/// resolved and checked again at every delivery.
pub fn webhook_url(url: &str, allow_insecure: bool) -> Result<()> {
    max_chars("webhook_url", url, MAX_WEBHOOK_URL)?;
    let bad = |why: &str| Err(Error::invalid(format!("Invalid webhook_url: {why}")));
    let rest = if let Some(rest) = url.strip_prefix("https://") {
        rest
    } else if let Some(rest) = url.strip_prefix("http://").filter(|_| allow_insecure) {
        rest
    } else {
        return bad("must be an https:// URL");
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return bad("credentials in the URL are not allowed");
    }
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if host.is_empty() || host.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return bad("a host name is required");
    }
    if allow_insecure {
        return Ok(());
    }
    if host == "localhost" || host.ends_with(".localhost") || host == "metadata.google.internal" {
        return bad("local and metadata hosts are not allowed");
    }
    match host.parse::<IpAddr>() {
        Ok(ip) if !is_public(ip) => {
            bad("private, loopback and link-local addresses are not allowed")
        }
        Ok(_) => Ok(()),
        // Numeric spellings other than dotted quads (2130706433, 0x7f.1, 017700000001) are
        // addresses to some resolvers: refuse them rather than guess.
        Err(_)
            if host
                .split('.')
                .all(|p| p.chars().all(|c| c.is_ascii_hexdigit() || c == 'x')) =>
        {
            bad("numeric hosts must be written as a dotted IPv4 address")
        }
        Err(_) => Ok(()),
    }
}

/// Whether an address is reachable on the public internet (not private, loopback, link-local,
/// shared, documentation, multicast or otherwise reserved).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || a == 0
        || a >= 240
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0)
        || (a == 198 && (18..20).contains(&b)))
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let [first, second, third, ..] = ip.segments();
    // 6to4 (2002::/16) reaches the IPv4 address it carries: judged as that address.
    if first == 0x2002 {
        let [a, b] = second.to_be_bytes();
        let [c, d] = third.to_be_bytes();
        return is_public_v4(Ipv4Addr::new(a, b, c, d));
    }
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
        // Site-local (deprecated, still routed inside some networks).
        || (first & 0xffc0) == 0xfec0
        // NAT64 (64:ff9b::/96 and the local-use 64:ff9b:1::/48) reaches IPv4 inside.
        || (first == 0x0064 && second == 0xff9b && (third == 0 || third == 1))
        || first == 0x2001 && second == 0x0db8
        || ip.to_ipv4().is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_follow_the_guide() {
        assert_eq!(tags(Some(vec![])).unwrap(), None);
        assert!(
            tags(Some(vec![
                "python".into(),
                "code-review".into(),
                "a_1".into()
            ]))
            .is_ok()
        );
        for bad in ["-lead", "has space", "ünï", "", &"x".repeat(51)] {
            assert!(tags(Some(vec![bad.into()])).is_err(), "{bad:?}");
        }
        assert!(tags(Some((0..11).map(|i| format!("t{i}")).collect())).is_err());
    }

    #[test]
    fn text_limits_count_characters() {
        assert!(max_chars("need", &"é".repeat(10), 10).is_ok());
        assert!(max_chars("need", &"é".repeat(11), 10).is_err());
        assert!(required_text("reason", Some("  "), 10).is_err());
        assert!(required_text("reason", None, 10).is_err());
        assert!(matches!(
            in_range("wait", Some(0), 1, 300),
            Err(Error::Invalid(m)) if m == "wait must be between 1 and 300"
        ));
    }

    #[test]
    fn webhook_urls_must_be_public_https() {
        for ok in [
            "https://hooks.example.com/pinchwork",
            "https://93.184.216.34:8443/x",
            "https://[2606:4700::1]/",
            // 6to4 of a public IPv4 address.
            "https://[2002:5db8:d822::1]/",
        ] {
            assert!(webhook_url(ok, false).is_ok(), "{ok}");
        }
        for bad in [
            "http://hooks.example.com/",
            "ftp://x",
            "https://",
            "https://localhost/",
            "https://api.localhost/",
            "https://127.0.0.1/",
            "https://10.1.2.3/",
            "https://192.168.0.1/",
            "https://172.16.0.1/",
            "https://169.254.169.254/latest",
            "https://metadata.google.internal/",
            "https://[::1]/",
            "https://[::ffff:127.0.0.1]/",
            "https://[fe80::1]/",
            "https://[fd00::1]/",
            "https://0.0.0.0/",
            "https://2130706433/",
            "https://0x7f000001/",
            "https://user:pw@example.com/",
            "https://100.64.0.1/",
            "https://[64:ff9b::7f00:1]/",
            "https://[64:ff9b::808:808]/",
            "https://[64:ff9b:1::a00:1]/",
            "https://[2002:7f00:1::]/",
            "https://[2002:a00:1::1]/",
            "https://[fec0::1]/",
        ] {
            assert!(webhook_url(bad, false).is_err(), "{bad}");
        }
        assert!(webhook_url("http://127.0.0.1:9000/hook", true).is_ok());
    }
}
