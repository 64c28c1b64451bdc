//! Bad input is refused where it is given, with an error naming the setting and the value,
//! before any request: one table per builder, through the public API only. Where a
//! simulator is involved, its request log stays empty.
#![cfg(feature = "simulator")]

use std::time::Duration;

use wks_waiter::simulator::{Scenario, Simulator};
use wks_waiter::{
    model::SubtaskStatus, test_util::virtual_time, BackoffPolicy, Client, ClientBuilder,
    Credentials, Error, SubtaskQuery, WaitError, Waiter, WaiterBuilder,
};

mod support;

use support::{aksk, builder, secs};

const JOB: &str = "job-1";

/// Checks that `err` is `InvalidConfig` for `field` with exactly `value`, and that its
/// message quotes the value.
fn assert_names(err: &Error, field: &str, value: &str, case: &str) {
    let Error::InvalidConfig {
        field: got_field,
        value: got_value,
        reason,
    } = err
    else {
        panic!("{case}: expected InvalidConfig, got {err:?}");
    };
    assert_eq!(*got_field, field, "{case}: {err}");
    assert_eq!(got_value, value, "{case}: {err}");
    assert!(!reason.is_empty(), "{case}");
    let text = err.to_string();
    assert!(text.contains(field), "{case}: {text}");
    assert!(text.contains(&format!("`{value}`")), "{case}: {text}");
}

fn simulator() -> Simulator {
    Simulator::start(Scenario::desktops(JOB, 3)).unwrap()
}

fn good_client(sim: &Simulator) -> ClientBuilder {
    builder(sim).credentials(aksk(sim))
}

#[test]
fn client_builder_refuses_bad_values_naming_them() {
    let sim = simulator();
    let good = || good_client(&sim);
    // Built from a region rather than the simulator's endpoint.
    let regional = || {
        Client::builder()
            .project_id("0605767a3300d5762fb7c0186d9e1779")
            .credentials(Credentials::access_key("AK", "SK").unwrap())
    };
    let long_id = "p".repeat(129);
    let cases: Vec<(ClientBuilder, &str, &str)> = vec![
        // Project IDs go into the path and a header.
        (good().project_id(""), "project_id", ""),
        (good().project_id("p/1"), "project_id", "p/1"),
        (good().project_id("p 1"), "project_id", "p 1"),
        (good().project_id("../v3"), "project_id", "../v3"),
        (good().project_id("p?x=1"), "project_id", "p?x=1"),
        (good().project_id("p%2F1"), "project_id", "p%2F1"),
        (
            good().project_id("p1\r\nX-Injected: 1"),
            "project_id",
            "p1\r\nX-Injected: 1",
        ),
        (good().project_id("项目"), "project_id", "项目"),
        (good().project_id(long_id.as_str()), "project_id", &long_id),
        // Regions go into a host name.
        (regional().region(""), "region", ""),
        (regional().region("CN-NORTH-4"), "region", "CN-NORTH-4"),
        (regional().region("cn_north_4"), "region", "cn_north_4"),
        (regional().region("north"), "region", "north"),
        (regional().region("-cn-north-4"), "region", "-cn-north-4"),
        (regional().region("cn-north-4-"), "region", "cn-north-4-"),
        (
            regional().region("cn-north-4.evil.com"),
            "region",
            "cn-north-4.evil.com",
        ),
        (regional().region("cn-north-4/x"), "region", "cn-north-4/x"),
        (
            regional().region("cn-north-4:80"),
            "region",
            "cn-north-4:80",
        ),
        // Endpoints: a scheme, a host, a valid port, nothing else in the authority.
        (good().endpoint(""), "endpoint", ""),
        (
            good().endpoint("workspace.cn-north-4.myhuaweicloud.com"),
            "endpoint",
            "workspace.cn-north-4.myhuaweicloud.com",
        ),
        (
            good().endpoint("//127.0.0.1:1"),
            "endpoint",
            "//127.0.0.1:1",
        ),
        (
            good().endpoint("ftp://127.0.0.1:21"),
            "endpoint",
            "ftp://127.0.0.1:21",
        ),
        (
            good().endpoint("file:///etc/passwd"),
            "endpoint",
            "file:///etc/passwd",
        ),
        (
            good().endpoint("http://workspace.example.com"),
            "endpoint",
            "http://workspace.example.com",
        ),
        (
            good().endpoint("http://10.0.0.1:80"),
            "endpoint",
            "http://10.0.0.1:80",
        ),
        (
            good().endpoint("https://user@workspace.example.com"),
            "endpoint",
            "https://user@workspace.example.com",
        ),
        // The value is named with its password masked.
        (
            good().endpoint("http://user:pw@127.0.0.1:8080"),
            "endpoint",
            "http://user:***@127.0.0.1:8080",
        ),
        (good().endpoint("https://h:0"), "endpoint", "https://h:0"),
        (
            good().endpoint("https://h:65536"),
            "endpoint",
            "https://h:65536",
        ),
        (good().endpoint("https://h:-1"), "endpoint", "https://h:-1"),
        (
            good().endpoint("https://h:http"),
            "endpoint",
            "https://h:http",
        ),
        (good().endpoint("https://h:"), "endpoint", "https://h:"),
        (
            good().endpoint("https://h:1:2"),
            "endpoint",
            "https://h:1:2",
        ),
        (good().endpoint("https://"), "endpoint", "https://"),
        (good().endpoint("https://:443"), "endpoint", "https://:443"),
        (good().endpoint("https://[::1"), "endpoint", "https://[::1"),
        (
            good().endpoint("https://h_1.com"),
            "endpoint",
            "https://h_1.com",
        ),
        (
            good().endpoint("https://h?x=1"),
            "endpoint",
            "https://h?x=1",
        ),
        (
            good().endpoint("https://h#frag"),
            "endpoint",
            "https://h#frag",
        ),
        (good().endpoint("https://h h"), "endpoint", "https://h h"),
        (
            good().endpoint("https://h/\nX-Injected: 1"),
            "endpoint",
            "https://h/\nX-Injected: 1",
        ),
        // Durations, sizes and headers.
        (
            good().connect_timeout(Duration::ZERO),
            "connect_timeout",
            "0s",
        ),
        (good().read_timeout(Duration::ZERO), "read_timeout", "0s"),
        (good().max_body_bytes(0), "max_body_bytes", "0"),
        (good().user_agent(""), "user_agent", ""),
        (
            good().user_agent("ua\r\nX-Injected: 1"),
            "user_agent",
            "ua\r\nX-Injected: 1",
        ),
        (good().user_agent("ua\u{7f}"), "user_agent", "ua\u{7f}"),
    ];
    for (builder, field, value) in cases {
        let Err(err) = builder.build() else {
            panic!("{field} {value:?} was accepted");
        };
        assert_names(&err, field, value, &format!("{field} {value:?}"));
    }

    // Missing settings name what is missing.
    let err = Client::builder()
        .project_id("p1")
        .credentials(Credentials::access_key("AK", "SK").unwrap())
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("region or an endpoint"), "{err}");
    let err = Client::builder()
        .endpoint(sim.url())
        .credentials(Credentials::access_key("AK", "SK").unwrap())
        .build()
        .unwrap_err();
    assert_names(&err, "project_id", "", "no project");
    let err = Client::builder()
        .endpoint(sim.url())
        .project_id("p1")
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("credentials"), "{err}");

    // The good builder works, so each refusal above was about its one bad value.
    good().build().unwrap();
    assert!(sim.requests().is_empty(), "{:?}", sim.requests());
}

#[test]
fn client_builder_refuses_malformed_bracketed_hosts() {
    for bad in [
        "https://[evil.com]",
        "https://[]",
        "https://[127.0.0.1]",
        "http://[::1]junk",
        "http://[::1]evil.com:80",
    ] {
        let result = Client::builder()
            .endpoint(bad)
            .project_id("p1")
            .credentials(Credentials::access_key("AK", "SK").unwrap())
            .build();
        let err = result.err().unwrap_or_else(|| panic!("{bad} was accepted"));
        assert_names(&err, "endpoint", bad, bad);
    }
}

#[test]
fn client_builder_refuses_dot_segment_project_ids() {
    let sim = simulator();
    for bad in [".", ".."] {
        let Err(err) = good_client(&sim).project_id(bad).build() else {
            panic!("project_id {bad:?} was accepted");
        };
        assert_names(&err, "project_id", bad, bad);
    }
    assert!(sim.requests().is_empty());
}

#[test]
fn credentials_refuse_empty_or_malformed_parts() {
    let cases: Vec<(Result<Credentials, Error>, &str, Option<&str>)> = vec![
        (Credentials::access_key("", "SK"), "access_key", Some("")),
        (Credentials::access_key(" ", "SK"), "access_key", Some("")),
        (
            Credentials::access_key("A K", "SK"),
            "access_key",
            Some("A K"),
        ),
        (
            Credentials::access_key("AK,x", "SK"),
            "access_key",
            Some("AK,x"),
        ),
        (
            Credentials::access_key("AK\r\nX-Injected: 1", "SK"),
            "access_key",
            Some("AK\r\nX-Injected: 1"),
        ),
        // Secrets: named, never repeated.
        (Credentials::access_key("AK", ""), "secret_key", None),
        (Credentials::access_key("AK", " \t"), "secret_key", None),
        (
            Credentials::temporary("AK", "SK", ""),
            "security_token",
            None,
        ),
        (Credentials::token(""), "token", None),
        (Credentials::token("\n"), "token", None),
    ];
    for (result, field, value) in cases {
        let err = result.unwrap_err();
        match value {
            Some(value) => assert_names(&err, field, value, field),
            None => {
                assert!(
                    matches!(&err, Error::InvalidSecret { field: f, .. } if *f == field),
                    "{field}: {err:?}"
                );
                assert!(err.to_string().contains(field), "{err}");
            }
        }
    }
}

/// Tokens are sent as header values; a line break in one would be header injection.
const INJECTING_TOKENS: [&str; 3] = ["tok\r\nX-Injected: 1", "tok\nX-Injected: 1", "tok\u{0}en"];

#[test]
fn a_token_with_control_characters_is_refused_when_built() {
    for bad in INJECTING_TOKENS {
        for (field, result) in [
            ("token", Credentials::token(bad)),
            ("security_token", Credentials::temporary("AK", "SK", bad)),
        ] {
            let err = result
                .err()
                .unwrap_or_else(|| panic!("{field} {bad:?} was accepted"));
            assert!(
                matches!(&err, Error::InvalidSecret { field: f, .. } if *f == field),
                "{field}: {err:?}"
            );
            // The field is named; the value is not repeated.
            assert!(
                !err.to_string().contains("Injected") && !err.to_string().contains("tok\u{0}"),
                "{err}"
            );
        }
    }
}

#[test]
fn query_builder_refuses_bad_values_naming_them() {
    let long_id = "j".repeat(129);
    let job = || SubtaskQuery::builder().job_id(JOB);
    let cases: Vec<(wks_waiter::query::SubtaskQueryBuilder, &str, &str)> = vec![
        (SubtaskQuery::builder().job_id(""), "job_id", ""),
        (SubtaskQuery::builder().job_id("job 1"), "job_id", "job 1"),
        (SubtaskQuery::builder().job_id("../x"), "job_id", "../x"),
        (
            SubtaskQuery::builder().job_id("a&limit=1"),
            "job_id",
            "a&limit=1",
        ),
        (SubtaskQuery::builder().job_id("job\n"), "job_id", "job\n"),
        (SubtaskQuery::builder().job_id("ジョブ"), "job_id", "ジョブ"),
        (
            SubtaskQuery::builder().job_id(long_id.as_str()),
            "job_id",
            &long_id,
        ),
        (SubtaskQuery::builder().job_type(""), "job_type", ""),
        (
            SubtaskQuery::builder().job_type("create Desktops"),
            "job_type",
            "create Desktops",
        ),
        (job().desktop_pool_id(""), "desktop_pool_id", ""),
        (job().desktop_pool_id("pool/1"), "desktop_pool_id", "pool/1"),
        (job().limit(1001), "limit", "1001"),
        (job().limit(u32::MAX), "limit", "4294967295"),
        (job().offset(10_001), "offset", "10001"),
        (job().offset(u64::MAX), "offset", "18446744073709551615"),
        (
            job().status(SubtaskStatus::Unknown("PAUSED".into())),
            "status",
            "PAUSED",
        ),
        (
            job()
                .status(SubtaskStatus::Running)
                .status(SubtaskStatus::parse("running ")),
            "status",
            "running ",
        ),
    ];
    for (builder, field, value) in cases {
        let err = builder.build().unwrap_err();
        assert_names(&err, field, value, &format!("{field} {value:?}"));
    }
    assert!(SubtaskQuery::for_job("").is_err());
    // Without a job the listing is project-wide: the service recommends a filter, but does
    // not require one.
    assert_eq!(
        SubtaskQuery::builder()
            .limit(10)
            .build()
            .unwrap()
            .canonical_string(),
        "limit=10"
    );
    // The edges of the documented ranges are accepted.
    job().limit(1000).offset(10_000).build().unwrap();
    job().limit(1).build().unwrap();
    SubtaskQuery::builder()
        .job_type("createDesktops")
        .build()
        .unwrap();
}

#[test]
fn a_zero_page_size_never_yields_a_silently_incomplete_listing() {
    let sim = simulator();
    let client = good_client(&sim).build().unwrap();
    let Ok(query) = SubtaskQuery::builder().job_id(JOB).limit(0).build() else {
        return; // Refused at build time: fine.
    };
    match client.list_all_subtasks(&query) {
        Ok(listing) => assert_eq!(
            listing.subtasks.len() as u64,
            listing.total_count,
            "an incomplete listing: {listing:?}"
        ),
        Err(err) => assert!(err.to_string().contains("limit"), "{err}"),
    }
}

#[test]
fn waiter_builder_refuses_bad_values_naming_them() {
    let sim = simulator();
    let waiter = || Waiter::builder(good_client(&sim).build().unwrap());
    let policy = |initial: u64, multiplier: f64, max: u64, jitter: f64| {
        BackoffPolicy::new(secs(initial))
            .multiplier(multiplier)
            .max_interval(secs(max))
            .randomization_factor(jitter)
    };
    type Set = fn(WaiterBuilder<Client>, BackoffPolicy) -> WaiterBuilder<Client>;
    let setters: [(&str, Set); 3] = [
        ("poll", |b, p| b.poll(p)),
        ("retry", |b, p| b.retry(p)),
        ("throttle_retry", |b, p| b.throttle_retry(p)),
    ];
    let mut cases: Vec<(WaiterBuilder<Client>, &str, String)> = vec![
        (waiter().max_wait(Duration::ZERO), "max_wait", "0s".into()),
        (
            waiter().request_timeout(Duration::ZERO),
            "request_timeout",
            "0s".into(),
        ),
        (
            waiter().max_predicted_interval(Duration::ZERO),
            "max_predicted_interval",
            "0s".into(),
        ),
        (waiter().expect_subtasks(0), "expect_subtasks", "0".into()),
        (waiter().page_size(0), "page_size", "0".into()),
        (waiter().page_size(1001), "page_size", "1001".into()),
    ];
    for (name, set) in setters {
        let bad_policies = [
            (
                BackoffPolicy::new(Duration::ZERO)
                    .max_interval(secs(5))
                    .randomization_factor(0.1),
                "initial_interval 0s",
            ),
            (
                BackoffPolicy::new(Duration::ZERO).randomization_factor(0.1),
                "initial_interval 0s",
            ),
            (
                policy(10, 2.0, 5, 0.1),
                "max_interval 5s < initial_interval 10s",
            ),
            (
                BackoffPolicy::new(secs(1)).max_interval(Duration::from_millis(999)),
                "max_interval 999ms < initial_interval 1s",
            ),
            (policy(1, 0.5, 5, 0.1), "multiplier 0.5"),
            (policy(1, -2.0, 5, 0.1), "multiplier -2"),
            (policy(1, f64::NAN, 5, 0.1), "multiplier NaN"),
            (policy(1, f64::INFINITY, 5, 0.1), "multiplier inf"),
            (policy(1, 2.0, 5, 1.0), "randomization_factor 1"),
            (policy(1, 2.0, 5, -0.1), "randomization_factor -0.1"),
            (policy(1, 2.0, 5, f64::NAN), "randomization_factor NaN"),
        ];
        for (bad, value) in bad_policies {
            cases.push((set(waiter(), bad), name, value.to_owned()));
        }
    }
    for (builder, field, value) in cases {
        let err = builder.build().unwrap_err();
        assert_names(&err, field, &value, &format!("{field} {value}"));
    }

    // Malformed job IDs: refused by `wait`, before any request, with no partial outcome.
    let waiter = waiter().build().unwrap();
    let long_id = "j".repeat(129);
    for bad in [
        "",
        " ",
        "job 1",
        " job-1",
        "job-1\n",
        "../job-1",
        "job-1/../x",
        "job-1?limit=1",
        "job-1&status=SUCCESS",
        "job%2D1",
        "ジョブ",
        long_id.as_str(),
    ] {
        let err = waiter.wait(bad).unwrap_err();
        let WaitError::InvalidInput(cause) = &err else {
            panic!("{bad:?}: {err:?}");
        };
        assert_names(cause, "job_id", bad, bad);
        assert!(err.partial().is_none(), "{bad:?}");
        assert!(err.to_string().contains(&format!("`{bad}`")), "{err}");
    }
    assert!(sim.requests().is_empty(), "{:?}", sim.requests());
    // A good ID goes through: the checks above are about the ID alone. (The waiter's time
    // is virtual; the client signs with the real clock, as the simulator expects.)
    let (clock, sleeper) = virtual_time();
    let err = Waiter::builder(good_client(&sim).build().unwrap())
        .clock(clock)
        .sleeper(sleeper)
        .max_wait(secs(1))
        .build()
        .unwrap()
        .wait(JOB)
        .unwrap_err();
    assert!(matches!(err, WaitError::TimedOut { .. }), "{err:?}");
    assert_eq!(err.partial().unwrap().subtasks.len(), 3);
    assert_eq!(sim.requests().len(), 2);
}
