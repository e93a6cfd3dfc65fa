//! Fuzz targets for the parsers of the facade and girder-core, called
//! directly: server hints (`Retry-After`, `RateLimit`, `RateLimit-Policy`,
//! `X-RateLimit-*`), `Link`, durations, the configuration from the
//! environment, configured origins and GraphQL documents. The targets that
//! go through a `Client` are in `fuzz_client.rs`. Each runs a few thousand
//! inputs here; `GIRDER_FUZZ_ITERS=1000000 cargo test --release
//! --all-features -p girder --test fuzz --test fuzz_client -- --nocapture`
//! is the long run (see `girder_test::fuzz`).

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use girder::graphql::operation_kind;
use girder::paginate::parse_link_header;
use girder::{Client, ClientConfig};
use girder_core::hints::{MAX_HINT, ServerHints};
use girder_test::fuzz::hints::headers as hint_headers;
use girder_test::fuzz::{self, Gen};
use http::Uri;

/// A wall-clock reading: around now, at the epoch, or far ahead.
fn wall_clock(g: &mut Gen) -> SystemTime {
    let secs = match g.rng().u32(0..4) {
        0 => 0,
        1 => g.rng().u64(0..1 << 35),
        _ => 1_764_000_000 + g.rng().u64(0..100_000_000),
    };
    SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
}

#[test]
fn server_hints_are_bounded() {
    let (mut inputs, mut parsed) = (0, 0);
    fuzz::check(
        "hints",
        5_000,
        |g| (hint_headers(g), wall_clock(g)),
        |(headers, now)| {
            let hints = ServerHints::parse(headers, *now);
            inputs += 1;
            parsed += usize::from(!hints.is_empty());
            assert!(hints.retry_after().is_none_or(|d| d <= MAX_HINT));
            for quota in hints.quotas() {
                assert!(quota.reset.is_none_or(|d| d <= MAX_HINT), "{quota:?}");
                assert!(quota.window.is_none_or(|d| d <= MAX_HINT), "{quota:?}");
            }
            assert!(hints.delay().is_none_or(|(d, _)| d <= MAX_HINT));
            assert_eq!(hints, ServerHints::parse(headers, *now), "deterministic");
            let _ = ServerHints::from_headers(headers);
        },
    );
    // The inputs get past the first byte: most give a hint.
    assert!(
        parsed * 2 > inputs,
        "{parsed} of {inputs} inputs gave a hint"
    );
}

const LINKS: &[&str] = &[
    r#"<https://api.test/items?page=3>; rel="next last", </items?page=1>; rel=first"#,
    r#"<https://api.github.com/repositories/1300192/issues?page=2>; rel="prev", <https://api.github.com/repositories/1300192/issues?page=4>; rel="next""#,
    "</a>; rel=next; title*=UTF-8'de'n%c3%a4chstes",
    r##"<x>; rel="a\"b"; anchor="#foo""##,
    "<>; rel=next,",
    r#"<http://x/>;rel=next;type="text/html";hreflang=en"#,
    "<//other.test/p?q=1#f>; REL=Next",
    "<?page=2>; rel=next",
];

const LINK_DICT: &[&str] = &[
    "<", ">", ";", ",", "=", "\"", "\\", "rel", "next", "prev", "last", " ", "\t", "http://", "%",
    "\u{e9}", "?page=", "#", "//",
];

fn quote(value: &str) -> String {
    let mut out = String::from("\"");
    for c in value.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

#[test]
fn link_headers_parse_or_fail_and_round_trip() {
    let (mut inputs, mut parsed) = (0, 0);
    fuzz::check(
        "link",
        5_000,
        |g| g.text(LINKS, LINK_DICT),
        |text| match parse_link_header(text) {
            Err(e) => {
                inputs += 1;
                assert!(e.to_string().contains("invalid Link header"));
            }
            Ok(links) => {
                inputs += 1;
                parsed += usize::from(!links.is_empty());
                // Written back with only the target and `rel`, each link
                // reads the same again.
                let written: Vec<String> = links
                    .iter()
                    .map(|l| match l.param("rel") {
                        Some(rel) => format!("<{}>; rel={}", l.target(), quote(rel)),
                        None => format!("<{}>", l.target()),
                    })
                    .collect();
                let again = parse_link_header(&written.join(", ")).expect("written back");
                assert_eq!(again.len(), links.len());
                for (a, b) in links.iter().zip(&again) {
                    assert_eq!(a.target(), b.target());
                    assert_eq!(a.rels().collect::<Vec<_>>(), b.rels().collect::<Vec<_>>());
                }
            }
        },
    );
    assert!(parsed * 4 > inputs, "{parsed} of {inputs} inputs parsed");
}

/// Found by the `config` target once origins with userinfo were among
/// its seeds: an origin that did not parse was quoted whole, password
/// included, in the error; one that parsed was kept, and shown by the
/// config's `Debug`.
#[test]
fn regression_credential_origins_https_user_pw_at_api_test_space_x() {
    let vars = HashMap::from([(
        "API_CREDENTIAL_ORIGINS".to_owned(),
        "https://user:pw-OSECRET@api.test x".to_owned(),
    )]);
    let e = ClientConfig::from_lookup("API", |name| vars.get(name).cloned()).unwrap_err();
    let shown = format!("{e} {e:?}");
    assert!(!shown.contains("OSECRET"), "{shown}");
    assert!(shown.contains("***@api.test x"), "{shown}");
    // A valid origin with userinfo is refused, so that `Debug` of a
    // config never holds it.
    let vars = HashMap::from([(
        "API_CREDENTIAL_ORIGINS".to_owned(),
        "https://user:pw-OSECRET@api.test".to_owned(),
    )]);
    let e = ClientConfig::from_lookup("API", |name| vars.get(name).cloned()).unwrap_err();
    assert!(!format!("{e} {e:?}").contains("OSECRET"), "{e}");
    let e = girder_core::origin::Origin::parse("ftp://u:pw-OSECRET@h").unwrap_err();
    assert!(!format!("{e} {e:?}").contains("OSECRET"), "{e}");
}

/// Found by the `link` target (long run): a quoted-pair with a control
/// character (`\` then 0x02) was read as that character, though RFC 9110
/// allows only HTAB, SP, VCHAR and obs-text after the backslash.
#[test]
fn regression_link_rel_a_backslash_0x02_b() {
    let e = parse_link_header("<x>; rel=\"a\\\u{2}b\"; anchor=\"#foo\"").unwrap_err();
    assert!(e.to_string().contains("control character"), "{e}");
    let links = parse_link_header("<x>; rel=\"a\\\tb\\\"c\"").unwrap();
    assert_eq!(links[0].param("rel"), Some("a\tb\"c"));
}

const DURATIONS: &[&str] = &[
    "250ms", "30s", "2m", "1h", "1.5", "0", " 10 s ", "0.001ms", "8760h", "525600m",
];

#[test]
fn durations_parse_within_a_year() {
    fuzz::check(
        "parse_duration",
        5_000,
        |g| g.text(DURATIONS, &["ms", "s", "m", "h", ".", "e", "-", "+", " "]),
        |text| {
            if let Ok(d) = girder::config::parse_duration(text) {
                assert!(d <= Duration::from_secs(86_400 * 365), "{d:?}");
            }
        },
    );
}

/// The passwords in the seeds of the URL settings and the marker of the
/// API key: none may appear in an error or in `Debug`.
const BASE_PASSWORD: &str = "pw-BSECRET";
const REDIS_PASSWORD: &str = "pw-RSECRET";
const ORIGIN_PASSWORD: &str = "pw-OSECRET";
const KEY_MARK: &str = "KEYSECRET";

const SETTINGS: &[(&str, &[&str])] = &[
    (
        "BASE_URL",
        &[
            "https://api.test/v1/",
            "http://127.0.0.1:8080",
            "https://user:pw-BSECRET@api.test/v1",
            "https://user:pw-BSECRET@api.test/v1?x=1",
            "ftp://user:pw-BSECRET@api.test/",
            "https://user:pw-BSECRET@api.test/ v1",
            "api.test",
        ],
    ),
    ("KEY_HEADER", &["x-api-key", "Authorization", "bad header"]),
    ("TIMEOUT", DURATIONS),
    ("ATTEMPT_TIMEOUT", DURATIONS),
    ("CONNECT_TIMEOUT", DURATIONS),
    ("MAX_RETRIES", &["3", "0", "99", "100", "-1"]),
    (
        "USER_AGENT",
        &["girder/0.1", "my app (contact@example.com)"],
    ),
    (
        "CREDENTIAL_ORIGINS",
        &[
            "https://api.test",
            "https://a.test, https://b.test:8443",
            "http://[::1]:8080,",
            "https://api.test/path",
            "https://user:pw-OSECRET@api.test x",
        ],
    ),
    (
        "REDIS_URL",
        &[
            "redis://127.0.0.1:6379/0",
            "redis://:pw-RSECRET@127.0.0.1:6379/1",
            "rediss://user:pw-RSECRET@cache.test/",
            "unix:///tmp/redis.sock",
        ],
    ),
    ("REDIS_FLEET_SIZE", &["4", "0", "1", "100000"]),
];

#[test]
fn config_from_the_environment_never_shows_a_secret() {
    fuzz::check(
        "config",
        3_000,
        |g| {
            let mut vars = HashMap::new();
            for (suffix, seeds) in SETTINGS {
                if g.chance(50) {
                    vars.insert(
                        format!("API_{suffix}"),
                        g.text(seeds, &[":", "/", "@", ","]),
                    );
                }
            }
            if g.chance(60) {
                let mut key = format!("sk_live_{KEY_MARK}_{}", g.rng().u32(..));
                if g.chance(30) {
                    key.push(['\n', '\0', '\u{7f}', '\u{e9}'][g.below(4)]);
                }
                vars.insert("API_KEY".to_owned(), key);
            }
            vars
        },
        |vars| {
            let result = ClientConfig::from_lookup("API", |name| vars.get(name).cloned());
            let shown = match &result {
                Ok(config) => format!("{config:?}"),
                Err(e) => format!("{e} {e:?}"),
            };
            assert!(!shown.contains(KEY_MARK), "the API key is shown: {shown}");
            // A password right before an '@' (so in what the error masks),
            // once in its value: the base URL's may be quoted only by a
            // config that builds (it has no userinfo: the text is in its
            // path); the Redis URL's never.
            let userinfo = |name: &str, password: &str| {
                vars.get(name).is_some_and(|v| {
                    v.matches(password).count() == 1 && v.contains(&format!(":{password}@"))
                })
            };
            if result.is_err() && userinfo("API_BASE_URL", BASE_PASSWORD) {
                assert!(
                    !shown.contains(BASE_PASSWORD),
                    "a URL password is shown: {shown}"
                );
            }
            // Origins likewise; and one with userinfo is refused.
            let origin_userinfo = vars.get("API_CREDENTIAL_ORIGINS").is_some_and(|list| {
                list.split(',').any(|o| {
                    o.trim()
                        .parse::<Uri>()
                        .ok()
                        .and_then(|u| u.authority().cloned())
                        .is_some_and(|a| a.as_str().contains('@'))
                })
            });
            assert!(
                !origin_userinfo || result.is_err(),
                "an origin with userinfo is kept"
            );
            if result.is_err() && userinfo("API_CREDENTIAL_ORIGINS", ORIGIN_PASSWORD) {
                assert!(
                    !shown.contains(ORIGIN_PASSWORD),
                    "an origin's password is shown: {shown}"
                );
            }
            if userinfo("API_REDIS_URL", REDIS_PASSWORD) {
                assert!(
                    !shown.contains(REDIS_PASSWORD),
                    "a URL password is shown: {shown}"
                );
            }
        },
    );
}

/// Found by the `config` target: the base URL's password was quoted in
/// the error of a URL that did not parse, had a query or another scheme;
/// then (the long run) in that of a URL whose `://` came after the
/// password.
#[test]
fn regression_base_url_https_user_pw_at_api_test_space_v1() {
    for url in [
        "https://user:pw-SECRET@api.test/ v1844674407370955161ff5",
        "https://user:pw-SECRET@api.test/v1?x=1",
        "ftp://user:pw-SECRET@api.test/",
        "user:pw-SECRET@api.test",
        "https:44//user:pw-SECRET@apittp://127.0.0.1:80.test/v1",
        "a:pw-SECRET@b://c@d.test",
    ] {
        let vars = HashMap::from([("API_BASE_URL".to_owned(), url.to_owned())]);
        let e = ClientConfig::from_lookup("API", |name| vars.get(name).cloned()).unwrap_err();
        let shown = format!("{e} {e:?}");
        assert!(!shown.contains("SECRET"), "{shown}");
        assert!(shown.contains("***@"), "{shown}");
        let e = Client::builder().base_url(url).build().unwrap_err();
        assert!(!format!("{e} {e:?}").contains("SECRET"), "{e}");
    }
}

const DOCUMENTS: &[&str] = &[
    "{ me { id } }",
    "query A { a } mutation B($x: In = {k: \"}\"}) { b(x: $x) }",
    "subscription S { s }",
    "# comment\nquery Q($a: [Int!]! = [1, 2]) @dir(x: \"\"\"block \\\"\"\" string\"\"\") { a }",
    "fragment F on T { f } query { ...F }",
    "mutation { m(s: \"\\u00e9\\\"\") }",
];

#[test]
fn graphql_documents_have_a_kind() {
    fuzz::check(
        "graphql_operation_kind",
        5_000,
        |g| {
            let doc = g.text(
                DOCUMENTS,
                &[
                    "{", "}", "(", ")", "\"", "\"\"\"", "\\", "#", "\n", "query", "mutation", "$",
                ],
            );
            let name = g
                .chance(40)
                .then(|| g.pick(&["A", "B", "Q", "S", ""]).to_owned());
            (doc, name)
        },
        |(doc, name)| {
            let _ = operation_kind(doc, name.as_deref());
        },
    );
}

const ORIGINS: &[&str] = &[
    "https://api.test",
    "http://127.0.0.1:8080",
    "https://API.Example.COM:443/path?q",
    "http://[::1]:8080",
    "ftp://files.test:21",
    "https://user@api.test",
    "//api.test",
];

/// Origins as users configure them: a parsed origin reads back from its
/// text, and matches the URI it came from.
#[test]
fn origins_round_trip() {
    fuzz::check(
        "origin",
        5_000,
        |g| g.text(ORIGINS, &[":", "/", "[", "]", "@", ".", "%", "65536"]),
        |text| {
            let Ok(origin) = girder_core::origin::Origin::parse(text) else {
                return;
            };
            // `http` reads some malformed authorities with userinfo or
            // brackets loosely (`h[::1]:80` has host `h[:`, `[::1@]:80`
            // host `]`, `[:%@%:1]:80` host `%`): such an origin matches
            // only that same text, and need not read back (see the report).
            let uri: Uri = text.parse().unwrap();
            assert!(origin.matches(&uri), "{origin} does not match {uri}");
            if text.contains(['@', '[', ']']) {
                return;
            }
            let again = girder_core::origin::Origin::parse(&origin.to_string())
                .unwrap_or_else(|e| panic!("{origin} does not parse again: {e}"));
            assert_eq!(again.to_string(), origin.to_string());
        },
    );
}
