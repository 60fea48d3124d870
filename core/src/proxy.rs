//! The forward proxy a request goes through, as the environment names it
//! (what the AWS SDK and reqwest use), and URLs said without their secrets.

/// An environment variable, upper case first then lower case; empty = unset.
fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().or_else(|| std::env::var(name.to_lowercase()).ok()).filter(|v| !v.is_empty())
}

/// A URL's scheme (if written), authority without user information, and
/// path, with query and fragment dropped.
fn parts(url: &str) -> (Option<&str>, &str, &str) {
    let url = url.split(['?', '#']).next().unwrap_or_default();
    let (scheme, rest) = match url.split_once("://") {
        Some((s, r)) => (Some(s), r),
        None => (None, url),
    };
    let (authority, path) = rest.find('/').map_or((rest, ""), |i| (&rest[..i], &rest[i..]));
    (scheme, authority.rsplit_once('@').map_or(authority, |(_, host)| host), path)
}

/// `host[:port]` apart; an IPv6 host is bracketed when it has a port
/// (`[::1]:5000`), and a bare `::1` has none.
fn host_port(authority: &str) -> (&str, Option<u16>) {
    match authority.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') || h.ends_with(']') => (h, p.parse().ok()),
        _ => (authority, None),
    }
}

/// Whether a `NO_PROXY` list (comma-separated hosts, `*`, `.suffix` or
/// `suffix`, optional `:port`) exempts `host` (`port` when known).
pub fn no_proxy_matches(list: &str, host: &str, port: Option<u16>) -> bool {
    let host = host.trim_matches(['[', ']']).to_ascii_lowercase();
    list.split(',').map(str::trim).filter(|e| !e.is_empty()).any(|entry| {
        if entry == "*" {
            return true;
        }
        let (name, want_port) = host_port(entry);
        if want_port.is_some() && want_port != port {
            return false;
        }
        let name = name.trim_matches(['[', ']']).to_ascii_lowercase();
        let name = name.trim_start_matches('*');
        let bare = name.trim_start_matches('.');
        host == bare || host.ends_with(&format!(".{bare}"))
    })
}

/// The proxy for a request to `scheme://host:port` (`HTTP_PROXY` for http,
/// `HTTPS_PROXY` otherwise, then `ALL_PROXY`) unless `NO_PROXY` exempts the
/// host; redacted ([`redact`]) for messages.
pub fn for_target(scheme: &str, host: &str, port: Option<u16>) -> Option<String> {
    if var("NO_PROXY").is_some_and(|list| no_proxy_matches(&list, host, port)) {
        return None;
    }
    let name = if scheme == "http" { "HTTP_PROXY" } else { "HTTPS_PROXY" };
    var(name).or_else(|| var("ALL_PROXY")).map(|p| redact(&p))
}

/// [`for_target`] for a URL (`scheme://[user@]host[:port]/…`; no scheme
/// means https).
pub fn for_url(url: &str) -> Option<String> {
    let (scheme, authority, _) = parts(url);
    let (host, port) = host_port(authority);
    for_target(scheme.unwrap_or("https"), host, port)
}

/// A URL as messages may show it: without user information (passwords,
/// tokens), query or fragment. `http://u:p@h:1/p?k=v` → `http://h:1/p`.
pub fn redact(url: &str) -> String {
    let (scheme, authority, path) = parts(url);
    match scheme {
        Some(s) => format!("{s}://{authority}{path}"),
        None => format!("{authority}{path}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_table() {
        for (url, want) in [
            ("http://u:p@127.0.0.1:3128", "http://127.0.0.1:3128"),
            ("http://user:EpS3cret@127.0.0.1:45299/p?k=QS3cret", "http://127.0.0.1:45299/p"),
            ("https://hooks.example.com/T000/B000?token=x#frag", "https://hooks.example.com/T000/B000"),
            ("proxy.internal:8080", "proxy.internal:8080"),
            ("u@proxy:1", "proxy:1"),
            ("http://[::1]:3128", "http://[::1]:3128"),
        ] {
            assert_eq!(redact(url), want, "{url}");
        }
    }

    #[test]
    fn host_port_table() {
        for (authority, want) in [
            ("127.0.0.1:45123", ("127.0.0.1", Some(45123))),
            ("example.com", ("example.com", None)),
            ("[::1]:5000", ("[::1]", Some(5000))),
            ("::1", ("::1", None)),
            ("host:notaport", ("host", None)),
        ] {
            assert_eq!(host_port(authority), want, "{authority}");
        }
    }

    #[test]
    fn no_proxy_table() {
        // (list, host, port, exempt)
        for (list, host, port, want) in [
            ("*", "anything", None, true),
            ("127.0.0.1", "127.0.0.1", Some(45123), true),
            ("127.0.0.1:45123", "127.0.0.1", Some(45123), true),
            ("127.0.0.1:1", "127.0.0.1", Some(45123), false),
            ("example.com", "127.0.0.1", Some(80), false),
            ("example.com", "api.example.com", None, true),
            (".example.com", "api.example.com", None, true),
            ("*.example.com", "api.example.com", None, true),
            ("example.com", "badexample.com", None, false),
            ("localhost, ::1", "::1", None, true),
            ("[::1]:5000", "[::1]", Some(5000), true),
            ("EXAMPLE.com", "example.COM", None, true),
        ] {
            assert_eq!(no_proxy_matches(list, host, port), want, "{list} / {host} {port:?}");
        }
    }
}
