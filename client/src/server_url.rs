//! A Pinchwork server's base URL: checked with a hint for the usual mistakes, compared to tell
//! whether a saved key belongs to it, and judged for sending a key over plain http.

use reqwest::Url;
use std::net::IpAddr;

/// The base URL `text` (e.g. `http://localhost:8000`), or a message saying what is wrong with
/// it and what to write instead.
pub fn parse(text: &str) -> Result<Url, String> {
    let text = text.trim();
    let invalid = |hint: String| format!("invalid server URL {text:?}: {hint}");
    if !text.contains("://") {
        return Err(invalid(format!(
            "it needs a scheme, e.g. http://{} (or https://)",
            text.trim_start_matches('/')
        )));
    }
    let url = Url::parse(text).map_err(|e| invalid(e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") || !url.has_host() {
        return Err(invalid("use an http:// or https:// URL".into()));
    }
    let path = url.path().trim_end_matches('/');
    if path == "/v1" || path.ends_with("/v1") {
        let mut base = url.clone();
        base.set_path(&path[..path.len() - 3]);
        return Err(invalid(format!(
            "give the server's base URL, without /v1: {}",
            base.as_str().trim_end_matches('/')
        )));
    }
    Ok(url)
}

/// Whether two base URLs name the same server (scheme, host, port and path; a trailing `/`
/// and the default port do not matter). Anything unparsable is no server at all.
pub fn same_server(a: &str, b: &str) -> bool {
    let key = |text: &str| {
        Url::parse(text.trim()).ok().map(|u| {
            (
                u.scheme().to_string(),
                u.host_str().map(str::to_ascii_lowercase),
                u.port_or_known_default(),
                u.path().trim_end_matches('/').to_string(),
            )
        })
    };
    matches!((key(a), key(b)), (Some(a), Some(b)) if a == b)
}

/// A warning to show before an API key is sent to `url` over plain http to another machine,
/// where anyone on the way can read it; `None` for https and for loopback addresses.
pub fn plain_http_warning(url: &str) -> Option<String> {
    let url = Url::parse(url.trim()).ok()?;
    if url.scheme() != "http" || is_loopback(&url) {
        return None;
    }
    Some(format!(
        "the API key is sent over plain http to {}, where anyone on the way can read it: \
         use https:// for a server on another machine",
        url.host_str().unwrap_or_default()
    ))
}

fn is_loopback(url: &Url) -> bool {
    let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
    let ip = host.trim_start_matches('[').trim_end_matches(']');
    match ip.parse::<IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => host == "localhost" || host.ends_with(".localhost"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mistakes_get_a_hint_naming_what_to_write() {
        let err = parse("localhost:8000").unwrap_err();
        assert!(err.contains("http://localhost:8000"), "{err}");
        let err = parse("http://localhost:8000/v1").unwrap_err();
        assert!(err.ends_with("without /v1: http://localhost:8000"), "{err}");
        let err = parse("https://example.com/pinchwork/v1/").unwrap_err();
        assert!(err.ends_with("https://example.com/pinchwork"), "{err}");
        assert!(parse("ftp://example.com").unwrap_err().contains("http://"));
        assert!(parse("http://").is_err());
        assert_eq!(
            parse(" http://localhost:8000/ ").unwrap().as_str(),
            "http://localhost:8000/"
        );
        assert!(parse("https://example.com/pinchwork").is_ok());
    }

    #[test]
    fn same_server_ignores_only_what_does_not_change_the_server() {
        assert!(same_server(
            "http://localhost:8000",
            "http://LOCALHOST:8000/"
        ));
        assert!(same_server(
            "https://example.com",
            "https://example.com:443"
        ));
        assert!(!same_server(
            "http://localhost:8000",
            "http://127.0.0.1:8000"
        ));
        assert!(!same_server("http://example.com", "https://example.com"));
        assert!(!same_server(
            "http://localhost:8000",
            "http://localhost:8001"
        ));
        assert!(!same_server("https://a.example/x", "https://a.example/y"));
        assert!(!same_server("not a url", "not a url"));
    }

    #[test]
    fn plain_http_warns_only_off_the_machine() {
        for url in [
            "http://localhost:8000",
            "http://api.localhost",
            "http://127.0.0.1:8000",
            "http://127.1.2.3",
            "http://[::1]:8000",
            "https://example.com",
        ] {
            assert_eq!(plain_http_warning(url), None, "{url}");
        }
        for url in [
            "http://example.com",
            "http://10.0.0.5:8000",
            "http://[2001:db8::1]",
        ] {
            assert!(plain_http_warning(url).is_some(), "{url}");
        }
    }
}
