use super::*;

/// 2015-10-21T07:28:00Z, the instant of the HTTP-date examples below.
fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480)
}

fn hints(pairs: &[(&str, &[u8])]) -> ServerHints {
    let mut headers = HeaderMap::new();
    for (name, value) in pairs {
        headers.append(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_bytes(value).unwrap(),
        );
    }
    ServerHints::parse(&headers, now())
}

fn retry(values: &[&str]) -> Option<Duration> {
    let pairs: Vec<(&str, &[u8])> = values
        .iter()
        .map(|v| ("retry-after", v.as_bytes()))
        .collect();
    hints(&pairs).retry_after()
}

fn secs(s: u64) -> Option<Duration> {
    Some(Duration::from_secs(s))
}

#[test]
fn retry_after_delta_seconds() {
    assert_eq!(retry(&["120"]), secs(120));
    assert_eq!(retry(&["0"]), secs(0));
    assert_eq!(retry(&["  3 "]), secs(3));
}

#[test]
fn retry_after_http_dates_in_all_three_formats() {
    assert_eq!(retry(&["Wed, 21 Oct 2015 07:28:30 GMT"]), secs(30));
    assert_eq!(retry(&["Wednesday, 21-Oct-15 07:29:00 GMT"]), secs(60));
    assert_eq!(retry(&["Wed Oct 21 07:28:10 2015"]), secs(10));
}

#[test]
fn retry_after_in_the_past_means_now() {
    assert_eq!(retry(&["Tue, 20 Oct 2015 07:28:00 GMT"]), secs(0));
    assert_eq!(retry(&["Thu, 01 Jan 1970 00:00:00 GMT"]), secs(0));
}

#[test]
fn retry_after_far_future_and_overflow_saturate() {
    assert_eq!(retry(&["Fri, 31 Dec 9999 23:59:59 GMT"]), Some(MAX_HINT));
    assert_eq!(retry(&["99999999999999999999999999"]), Some(MAX_HINT));
    assert_eq!(retry(&["86401"]), Some(MAX_HINT));
    assert_eq!(retry(&["86400"]), Some(MAX_HINT));
    assert_eq!(retry(&["86399"]), secs(86_399));
}

#[test]
fn retry_after_garbage_is_ignored() {
    for garbage in [
        "soon",
        "-5",
        "1.5",
        "",
        "5s",
        "+5",
        "0x10",
        "Wed, 32 Oct 2015 07:28:00 GMT",
        "1 2",
    ] {
        assert_eq!(retry(&[garbage]), None, "{garbage:?}");
    }
    assert_eq!(hints(&[("retry-after", b"\xff\xfe")]).retry_after(), None);
}

#[test]
fn duplicate_retry_after_takes_the_longest_valid_wait() {
    assert_eq!(retry(&["5", "10"]), secs(10));
    assert_eq!(retry(&["10", "5"]), secs(10));
    assert_eq!(retry(&["garbage", "5"]), secs(5));
    assert_eq!(retry(&["Wed, 21 Oct 2015 07:28:30 GMT", "5"]), secs(30));
}

#[test]
fn ietf_list_form_joins_policy_and_status_by_name() {
    let h = hints(&[
        (
            "ratelimit-policy",
            br#""burst";q=100;w=60, "daily";q=1000;w=86400"#,
        ),
        ("ratelimit", br#""burst";r=0;t=30, "daily";r=500;t=7200"#),
    ]);
    let quotas: Vec<&Quota> = h.quotas().collect();
    assert_eq!(quotas.len(), 2);
    assert_eq!(quotas[0].name.as_deref(), Some("burst"));
    assert_eq!(quotas[0].limit, Some(100));
    assert_eq!(quotas[0].remaining, Some(0));
    assert_eq!(quotas[0].reset, secs(30));
    assert_eq!(quotas[0].window, secs(60));
    assert_eq!(quotas[1].remaining, Some(500));
    assert_eq!(h.exhausted_for(), secs(30));
    assert_eq!(
        h.delay(),
        Some((Duration::from_secs(30), HintSource::RateLimit))
    );
}

#[test]
fn exhausted_for_is_the_longest_reset_of_exhausted_quotas() {
    let h = hints(&[("ratelimit", br#""a";r=0;t=5, "b";r=0;t=50, "c";r=3;t=500"#)]);
    assert_eq!(h.exhausted_for(), secs(50));
}

#[test]
fn ietf_field_split_over_two_lines() {
    let h = hints(&[
        ("ratelimit", br#""a";r=1;t=5"#),
        ("ratelimit", br#""b";r=0;t=9"#),
    ]);
    assert_eq!(h.quotas().len(), 2);
    assert_eq!(h.exhausted_for(), secs(9));
}

#[test]
fn ietf_dictionary_form_of_earlier_drafts() {
    let h = hints(&[
        ("ratelimit", b"limit=100, remaining=0, reset=12"),
        ("ratelimit-policy", b"100;w=60"),
    ]);
    let quota = h.quotas().next().unwrap();
    assert_eq!(quota.name, None);
    assert_eq!((quota.limit, quota.remaining), (Some(100), Some(0)));
    assert_eq!((quota.reset, quota.window), (secs(12), secs(60)));
}

#[test]
fn ietf_separate_fields_of_the_earliest_drafts() {
    let h = hints(&[
        ("ratelimit-limit", b"10, 10;w=1"),
        ("ratelimit-remaining", b"0"),
        ("ratelimit-reset", b"4"),
    ]);
    let quota = h.quotas().next().unwrap();
    assert_eq!(
        (quota.limit, quota.remaining, quota.reset),
        (Some(10), Some(0), secs(4))
    );
}

#[test]
fn malformed_or_negative_structured_fields_change_nothing() {
    for bad in [
        &b"\"a\";r="[..],
        b"\"a\";r=-1;t=-5",
        b"((",
        b"\"a\";r=1.5",
        b"limit=, remaining=x",
    ] {
        let h = hints(&[("ratelimit", bad)]);
        assert!(
            h.is_empty(),
            "{:?} gave {h:?}",
            String::from_utf8_lossy(bad)
        );
    }
    let h = hints(&[("ratelimit-policy", b"\"a\";q=-100;w=-1")]);
    assert!(h.is_empty(), "{h:?}");
}

#[test]
fn ietf_overflowing_reset_saturates() {
    let h = hints(&[("ratelimit", br#""a";r=0;t=999999999999999"#)]);
    assert_eq!(h.exhausted_for(), Some(MAX_HINT));
}

#[test]
fn x_ratelimit_reset_as_delta_seconds() {
    let h = hints(&[
        ("x-ratelimit-limit", b"60"),
        ("x-ratelimit-remaining", b"0"),
        ("x-ratelimit-reset", b"15"),
    ]);
    assert_eq!(h.quotas_with_source()[0].0, HintSource::XRateLimit);
    let quota = h.quotas().next().unwrap();
    assert_eq!(
        (quota.limit, quota.remaining, quota.reset),
        (Some(60), Some(0), secs(15))
    );
}

#[test]
fn x_ratelimit_reset_as_unix_time() {
    let now_secs = 1_445_412_480u64;
    let at = (now_secs + 90).to_string();
    let h = hints(&[
        ("x-ratelimit-remaining", b"0"),
        ("x-ratelimit-reset", at.as_bytes()),
    ]);
    assert_eq!(h.exhausted_for(), secs(90));

    let millis = ((now_secs + 2) * 1000 + 500).to_string();
    let h = hints(&[("x-ratelimit-reset", millis.as_bytes())]);
    assert_eq!(
        h.quotas().next().unwrap().reset,
        Some(Duration::from_millis(2500))
    );

    let fractional = format!("{}.250", now_secs + 1);
    let h = hints(&[("x-ratelimit-reset", fractional.as_bytes())]);
    assert_eq!(
        h.quotas().next().unwrap().reset,
        Some(Duration::from_millis(1250))
    );
}

#[test]
fn x_ratelimit_reset_in_the_past_or_far_future() {
    let h = hints(&[("x-ratelimit-reset", b"1000000000")]);
    assert_eq!(h.quotas().next().unwrap().reset, secs(0));
    let h = hints(&[("x-ratelimit-reset", b"99999999999")]);
    assert_eq!(h.quotas().next().unwrap().reset, Some(MAX_HINT));
    let h = hints(&[("x-ratelimit-reset", b"18446744073709551615999")]);
    assert_eq!(h.quotas().next().unwrap().reset, Some(MAX_HINT));
}

#[test]
fn x_ratelimit_reset_after_and_spelling_variants() {
    let h = hints(&[
        ("x-ratelimit-reset-after", b"1.5"),
        ("x-ratelimit-remaining", b"0"),
    ]);
    assert_eq!(h.exhausted_for(), Some(Duration::from_millis(1500)));
    let h = hints(&[
        ("x-rate-limit-remaining", b"0"),
        ("x-rate-limit-reset", b"8"),
    ]);
    assert_eq!(h.exhausted_for(), secs(8));
}

#[test]
fn x_ratelimit_duplicates_are_combined_conservatively() {
    let h = hints(&[
        ("x-ratelimit-limit", b"100"),
        ("x-ratelimit-limit", b"50"),
        ("x-ratelimit-remaining", b"7"),
        ("x-ratelimit-remaining", b"3"),
        ("x-ratelimit-reset", b"10"),
        ("x-ratelimit-reset", b"20"),
    ]);
    let quota = h.quotas().next().unwrap();
    assert_eq!(
        (quota.limit, quota.remaining, quota.reset),
        (Some(50), Some(3), secs(20))
    );
}

#[test]
fn x_ratelimit_garbage_is_ignored() {
    for garbage in [
        &b"-1"[..],
        b"abc",
        b"",
        b"1e3",
        b"1.",
        b".5",
        b"\xff",
        b"1 000",
    ] {
        let h = hints(&[
            ("x-ratelimit-remaining", garbage),
            ("x-ratelimit-reset", garbage),
        ]);
        assert!(
            h.is_empty(),
            "{:?} gave {h:?}",
            String::from_utf8_lossy(garbage)
        );
    }
    // A count too large to be true is garbage (a reset that large saturates).
    let h = hints(&[("x-ratelimit-remaining", b"99999999999999999999999")]);
    assert!(h.is_empty(), "{h:?}");
}

#[test]
fn no_headers_no_hints() {
    let h = hints(&[("content-type", b"application/json")]);
    assert!(h.is_empty());
    assert_eq!(h.delay(), None);
}

#[test]
fn from_headers_reads_the_clock() {
    let mut headers = HeaderMap::new();
    headers.insert(
        RETRY_AFTER,
        HeaderValue::from_static("Thu, 01 Jan 1970 00:00:00 GMT"),
    );
    assert_eq!(ServerHints::from_headers(&headers).retry_after(), secs(0));
}

#[test]
fn ietf_repeated_parameter_takes_the_last_value() {
    // RFC 9651, 4.2.3.2: a repeated parameter key keeps only its last
    // value, even when that value is not an integer.
    let h = hints(&[("ratelimit", br#""a";r=5;t=9;r=0"#)]);
    assert_eq!(h.exhausted_for(), secs(9));
    let h = hints(&[("ratelimit", br#""a";r=0;r=x"#)]);
    assert!(h.is_empty(), "{h:?}");
    let h = hints(&[("ratelimit-policy", br#""a";q=10;w=60;q=?1"#)]);
    let quota = h.quotas().next().unwrap();
    assert_eq!((quota.limit, quota.window), (None, secs(60)));
}

#[test]
fn ietf_repeated_dictionary_key_takes_the_last_value() {
    let h = hints(&[("ratelimit", b"remaining=0, reset=5, remaining=7")]);
    let quota = h.quotas().next().unwrap();
    assert_eq!((quota.remaining, quota.reset), (Some(7), secs(5)));
}
