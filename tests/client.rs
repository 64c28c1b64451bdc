//! The real `Client`, over loopback HTTP, against the simulator: paging, filters, every way
//! to authenticate, every documented error status and every transport fault.
#![cfg(feature = "simulator")]

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use wks_waiter::simulator::{Fault, FaultPlan, Scenario, Simulator, TimelineSpec, VirtualSource};
use wks_waiter::{
    error::TransportKind,
    model::SubtaskStatus,
    source::{collect_pages, JobsApi},
    test_util::ManualClock,
    time::Clock,
    Client, Credentials, Error, SubtaskQuery,
};

mod support;

use support::{aksk, builder, client, in_virtual_time, secs};

const JOB: &str = "job-1";

fn job_query() -> SubtaskQuery {
    SubtaskQuery::for_job(JOB).unwrap()
}

#[test]
fn lists_one_page() {
    let sim = Simulator::start(Scenario::desktops(JOB, 5)).unwrap();
    let page = client(&sim).list_subtasks(&job_query()).unwrap();
    assert_eq!(page.total_count, 5);
    assert_eq!(page.subtasks.len(), 5);
    let first = &page.subtasks[0];
    assert_eq!(first.job_id.as_deref(), Some(JOB));
    assert_eq!(first.desktop_name(), Some("desktop-0001"));
    assert_eq!(first.project_id.as_deref(), Some(sim.project_id()));
    let log = sim.requests();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].method, "GET");
    assert_eq!(
        log[0].path,
        format!("/v2/{}/workspace-sub-jobs", sim.project_id())
    );
    assert_eq!(log[0].query_values("job_id"), [JOB]);
    assert_eq!((log[0].status, log[0].jobs_returned), (200, 5));
}

#[test]
fn lists_everything_across_capped_pages() {
    let sim = Simulator::start(Scenario::desktops(JOB, 100).page_cap(7)).unwrap();
    let query = SubtaskQuery::builder()
        .job_id(JOB)
        .limit(1000)
        .build()
        .unwrap();
    let listing = client(&sim).list_all_subtasks(&query).unwrap();
    assert_eq!(listing.subtasks.len(), 100);
    let ids: HashSet<_> = listing
        .subtasks
        .iter()
        .map(|j| j.id.clone().unwrap())
        .collect();
    assert_eq!(ids.len(), 100, "no duplicates");
    assert_eq!(listing.largest_page, 7);
    let log = sim.requests();
    assert_eq!(log.len(), 15);
    let offsets: Vec<String> = log
        .iter()
        .map(|r| r.query_values("offset").first().unwrap_or(&"0").to_string())
        .collect();
    assert_eq!(offsets[..3], ["0", "7", "14"]);
    assert!(log.iter().all(|r| r.query_values("limit") == ["1000"]));
}

#[test]
fn filters_by_status_in_virtual_time() {
    let spec = TimelineSpec {
        failures: 3,
        ..TimelineSpec::new(10)
    };
    let (sim, client, clock) = in_virtual_time(Simulator::builder(Scenario::generate(JOB, &spec)));
    let by_status = |status: SubtaskStatus| {
        let query = SubtaskQuery::builder()
            .job_id(JOB)
            .status(status)
            .build()
            .unwrap();
        client.list_all_subtasks(&query).unwrap().subtasks
    };
    assert!(by_status(SubtaskStatus::Failed).is_empty());
    clock.advance(secs(200));
    assert_eq!(sim.elapsed(), secs(200));
    let failed = by_status(SubtaskStatus::Failed);
    assert_eq!(failed.len(), 3);
    for job in &failed {
        assert_eq!(job.status, Some(SubtaskStatus::Failed));
        assert!(job.error_code.as_deref().unwrap().starts_with("WKS."));
        assert!(job.fail_reason.is_some());
        assert!(job
            .end_time
            .as_deref()
            .unwrap()
            .starts_with("2026-01-01 00:0"));
    }
    assert_eq!(by_status(SubtaskStatus::Success).len(), 7);
    assert_eq!(
        sim.requests().last().unwrap().query_values("status"),
        ["SUCCESS"]
    );
}

#[test]
fn the_http_and_in_process_fronts_agree() {
    let spec = TimelineSpec {
        failures: 4,
        visible_after: secs(5),
        ..TimelineSpec::new(30)
    };
    let scenario = Scenario::generate(JOB, &spec).page_cap(8);
    let (_sim, client, clock) = in_virtual_time(Simulator::builder(scenario.clone()));
    let source = VirtualSource::new(scenario, clock.clone());
    for at in [0, 5, 30, 90, 200] {
        clock.advance(secs(at) - clock.elapsed());
        let over_http = client.list_all_subtasks(&job_query()).unwrap();
        let in_process = collect_pages(&job_query(), |q| source.fetch_page(q, None)).unwrap();
        assert_eq!(over_http.subtasks, in_process.subtasks, "at {at} s");
        assert_eq!(over_http.total_count, in_process.total_count);
    }
}

#[test]
fn temporary_credentials_need_the_right_security_token() {
    let sim = Simulator::builder(Scenario::desktops(JOB, 2))
        .security_token("session-token-1")
        .start()
        .unwrap();
    let with = |credentials: Credentials| {
        builder(&sim)
            .credentials(credentials)
            .build()
            .unwrap()
            .list_subtasks(&job_query())
    };
    let ok = with(
        Credentials::temporary(sim.access_key(), sim.secret_key(), "session-token-1").unwrap(),
    );
    assert_eq!(ok.unwrap().subtasks.len(), 2);
    let wrong = with(
        Credentials::temporary(sim.access_key(), sim.secret_key(), "session-token-2").unwrap(),
    )
    .unwrap_err();
    assert_eq!(wrong.status(), Some(401));
    assert_eq!(
        wrong.api().unwrap().error_code.as_deref(),
        Some("APIGW.0301")
    );
    let permanent = with(aksk(&sim)).unwrap_err();
    assert_eq!(permanent.status(), Some(401));
}

#[test]
fn iam_tokens_authenticate() {
    let sim = Simulator::builder(Scenario::desktops(JOB, 3))
        .token("my-iam-token")
        .start()
        .unwrap();
    assert_eq!(sim.token(), "my-iam-token");
    let with = |token: &str| {
        builder(&sim)
            .credentials(Credentials::token(token).unwrap())
            .build()
            .unwrap()
            .list_subtasks(&job_query())
    };
    assert_eq!(with("my-iam-token").unwrap().subtasks.len(), 3);
    let err = with("forged-token").unwrap_err();
    assert_eq!(err.status(), Some(401));
    assert_eq!(err.api().unwrap().error_code.as_deref(), Some("APIGW.0301"));
    assert!(!format!("{err} {err:?}").contains("forged-token"));
}

#[test]
fn every_documented_error_status_is_an_api_error() {
    let cases = [
        (400, "WKS.0001", "Invalid request parameter"),
        (
            401,
            "APIGW.0301",
            "Incorrect IAM authentication information",
        ),
        (403, "APIGW.0302", "The IAM user is forbidden"),
        (404, "WKS.0004", "The resource does not exist"),
        (405, "WKS.0005", "Method Not Allowed"),
        (
            429,
            "APIGW.0308",
            "The throttling threshold has been reached",
        ),
        (500, "WKS.00000500", "Internal server error"),
        (503, "WKS.00000503", "Service unavailable"),
    ];
    let mut plan = FaultPlan::new();
    for (i, (status, code, msg)) in cases.iter().enumerate() {
        plan = plan.on_request(i as u64, Fault::status(*status, code, msg));
    }
    let sim = Simulator::builder(Scenario::desktops(JOB, 1))
        .faults(plan)
        .start()
        .unwrap();
    let client = client(&sim);
    for (i, (status, code, msg)) in cases.iter().enumerate() {
        let err = client.list_subtasks(&job_query()).unwrap_err();
        let api = err.api().unwrap_or_else(|| panic!("{status}: {err:?}"));
        assert_eq!(api.status, *status);
        assert_eq!(api.error_code.as_deref(), Some(*code));
        assert_eq!(api.error_msg.as_deref(), Some(*msg));
        assert!(api.error_detail.is_some(), "{status}");
        assert_eq!(api.encoded_authorization_message.is_some(), *status == 403);
        let logged = &sim.requests()[i];
        assert_eq!((logged.status, logged.index), (*status, i as u64));
        assert_eq!(err.request_id(), Some(logged.request_id().as_str()));
        assert_eq!(
            err.is_retryable(),
            matches!(status, 429 | 500 | 503),
            "{status}"
        );
        assert!(err.to_string().contains(&logged.request_id()), "{err}");
    }
    assert_eq!(
        client.list_subtasks(&job_query()).unwrap().subtasks.len(),
        1
    );
}

#[test]
fn the_dedicated_faults_are_retryable_api_errors() {
    let sim = Simulator::builder(Scenario::desktops(JOB, 1))
        .faults(
            FaultPlan::new()
                .on_request(
                    0,
                    Fault::Throttle {
                        retry_after: Some(7),
                    },
                )
                .on_request(1, Fault::Throttle { retry_after: None })
                .on_request(2, Fault::ServerError)
                .on_request(3, Fault::Unavailable),
        )
        .start()
        .unwrap();
    let client = client(&sim);
    let throttled = client.list_subtasks(&job_query()).unwrap_err();
    assert!(throttled.is_throttled() && throttled.is_retryable());
    assert_eq!(throttled.retry_after(), Some(secs(7)));
    let api = throttled.api().unwrap();
    assert_eq!(api.error_code.as_deref(), Some("APIGW.0308"));
    assert!(api
        .error_msg
        .as_deref()
        .unwrap()
        .contains("limit:200,time:5 minute"));
    let no_hint = client.list_subtasks(&job_query()).unwrap_err();
    assert_eq!((no_hint.status(), no_hint.retry_after()), (Some(429), None));
    for status in [500, 503] {
        let err = client.list_subtasks(&job_query()).unwrap_err();
        assert_eq!(err.status(), Some(status));
        assert!(err.is_retryable());
    }
}

#[test]
fn a_wrong_secret_key_is_refused_without_echoing_it() {
    let sim = Simulator::start(Scenario::desktops(JOB, 1)).unwrap();
    let wrong_sk = "WrongSecretKey-0000-zzzz";
    let client = builder(&sim)
        .credentials(Credentials::access_key(sim.access_key(), wrong_sk).unwrap())
        .build()
        .unwrap();
    let err = client.list_subtasks(&job_query()).unwrap_err();
    assert_eq!(err.status(), Some(401));
    assert_eq!(err.api().unwrap().error_code.as_deref(), Some("APIGW.0301"));
    assert!(
        !err.is_retryable(),
        "auth failures lock the key pair when retried"
    );
    let mut texts = format!("{err} {err:?} {client:?}");
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        texts.push_str(&format!(" {cause} {cause:?}"));
        source = cause.source();
    }
    assert!(!texts.contains(wrong_sk), "{texts}");
    assert!(!texts.contains(sim.secret_key()), "{texts}");
}

#[test]
fn a_clock_20_minutes_off_signs_expired_requests() {
    let sim_clock = Arc::new(ManualClock::at_2026());
    let sim = Simulator::builder(Scenario::desktops(JOB, 1))
        .clock(sim_clock.clone())
        .start()
        .unwrap();
    let skewed = |minutes: u64| {
        let wall = sim_clock.system_time() + secs(minutes * 60);
        builder(&sim)
            .credentials(aksk(&sim))
            .clock(Arc::new(ManualClock::new(wall)))
            .build()
            .unwrap()
            .list_subtasks(&job_query())
    };
    let err = skewed(20).unwrap_err();
    assert_eq!(err.status(), Some(401));
    assert_eq!(err.api().unwrap().error_code.as_deref(), Some("APIGW.0303"));
    assert!(skewed(10).is_ok(), "within the 15 minutes allowed");
}

#[test]
fn a_wrong_project_is_not_found() {
    let sim = Simulator::start(Scenario::desktops(JOB, 1)).unwrap();
    let client = builder(&sim)
        .project_id("0123456789abcdef0123456789abcdef")
        .credentials(aksk(&sim))
        .build()
        .unwrap();
    let err = client.list_subtasks(&job_query()).unwrap_err();
    assert_eq!(err.status(), Some(404));
    assert!(!err.is_retryable());
}

#[test]
fn a_truncated_body_is_a_retryable_decode_error() {
    let sim = Simulator::builder(Scenario::desktops(JOB, 20))
        .faults(FaultPlan::new().on_request(0, Fault::TruncatedBody))
        .start()
        .unwrap();
    let client = client(&sim);
    let err = client.list_subtasks(&job_query()).unwrap_err();
    let Error::Decode {
        status,
        excerpt,
        length,
        ..
    } = &err
    else {
        panic!("expected a decode error, got {err:?}");
    };
    assert_eq!(*status, 200);
    assert!(excerpt.starts_with("{\""), "{excerpt}");
    assert_eq!(*length, sim.requests()[0].body_bytes);
    assert!(err.is_retryable());
    assert_eq!(
        err.request_id(),
        Some(sim.requests()[0].request_id().as_str())
    );
    assert_eq!(
        client.list_subtasks(&job_query()).unwrap().subtasks.len(),
        20
    );
}

#[test]
fn a_dropped_connection_is_a_retryable_transport_error() {
    let sim = Simulator::builder(Scenario::desktops(JOB, 20))
        .faults(FaultPlan::new().on_request(0, Fault::DropConnection))
        .start()
        .unwrap();
    // Were the drop lost, the client would wait out this timeout and report a timeout,
    // not a reset.
    let client = builder(&sim)
        .credentials(aksk(&sim))
        .read_timeout(secs(10))
        .build()
        .unwrap();
    let err = client.list_subtasks(&job_query()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Transport {
                kind: TransportKind::Reset,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.is_retryable() && !err.is_timeout());
    assert_eq!(
        client.list_subtasks(&job_query()).unwrap().subtasks.len(),
        20
    );
}

#[test]
fn a_slow_response_beyond_the_read_timeout_times_out() {
    let sim = Simulator::builder(Scenario::desktops(JOB, 1))
        .faults(FaultPlan::new().on_request(0, Fault::Slow(secs(1))))
        .start()
        .unwrap();
    let client = builder(&sim)
        .credentials(aksk(&sim))
        .read_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let err = client.list_subtasks(&job_query()).unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert!(err.is_retryable());
    // The server still answers, to a client that gives it time (a loaded machine may
    // take longer than 200 ms for any answer).
    let patient = builder(&sim).credentials(aksk(&sim)).build().unwrap();
    assert_eq!(
        patient.list_subtasks(&job_query()).unwrap().subtasks.len(),
        1
    );
}

#[test]
fn plain_http_is_for_loopback_only() {
    let err = Client::builder()
        .endpoint("http://workspace.example.com")
        .project_id("p1")
        .credentials(Credentials::access_key("AK", "SK").unwrap())
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("loopback"), "{err}");
}

#[test]
fn a_body_over_the_limit_is_refused() {
    let sim = Simulator::start(Scenario::desktops(JOB, 100)).unwrap();
    let client = builder(&sim)
        .credentials(aksk(&sim))
        .max_body_bytes(1024)
        .build()
        .unwrap();
    let err = client.list_subtasks(&job_query()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::ResponseTooLarge {
                limit: 1024,
                status: 200,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.request_id(),
        Some(sim.requests()[0].request_id().as_str())
    );
    assert!(!err.is_retryable());
}

#[test]
fn a_100_mb_response_is_refused_at_the_default_limit() {
    const SIZE: usize = 100 * 1024 * 1024;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    // Streams 100 MB of spaces from one 64 KiB buffer until the client hangs up.
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap() > 2 {
            line.clear();
        }
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Request-Id: huge-1\r\n\
             Content-Length: {SIZE}\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).unwrap();
        let chunk = [b' '; 64 * 1024];
        let mut sent = 0;
        while sent < SIZE {
            match stream.write(&chunk) {
                Ok(n) => sent += n,
                Err(_) => break,
            }
        }
        sent
    });
    let client = Client::builder()
        .endpoint(url)
        .project_id("p1")
        .credentials(Credentials::access_key("AK", "SK").unwrap())
        .proxy_from_env(false)
        .build()
        .unwrap();
    let err = client.list_subtasks(&job_query()).unwrap_err();
    assert!(
        matches!(err, Error::ResponseTooLarge { limit, .. } if limit == wks_waiter::defaults::DEFAULT_MAX_BODY_BYTES),
        "{err:?}"
    );
    assert_eq!(err.request_id(), Some("huge-1"));
    drop(client);
    let sent = server.join().unwrap();
    assert!(
        sent < SIZE,
        "the client stopped reading early ({sent} bytes sent)"
    );
}

/// A client of a loopback server that is not the simulator, signing at `clock`'s time.
fn plain_client(url: &str, clock: Arc<ManualClock>) -> wks_waiter::Client {
    wks_waiter::Client::builder()
        .endpoint(url)
        .project_id("p1")
        .credentials(Credentials::access_key("AK", "SK").unwrap())
        .proxy_from_env(false)
        .clock(clock)
        .build()
        .unwrap()
}

#[test]
fn malformed_success_bodies_are_retryable_decode_errors_naming_what_is_wrong() {
    let cases = [
        ("[]", "expected a sub-jobs page as a JSON object"),
        (r#"{"jobs":[]}"#, "missing field `total_count`"),
        (r#"{"total_count":3}"#, "missing field `jobs`"),
        (
            r#"{"total_count":4,"jobs":[{"id":"a"},{"id":"b"},{"id":"c"},{"status":"RUNNING"}]}"#,
            "jobs[3].id is missing",
        ),
        (
            r#"{"total_count":2,"jobs":[{"id":"a"},{"id":""}]}"#,
            "jobs[1].id is missing",
        ),
        (
            r#"{"error_code":"WKS.0001","error_msg":"Internal error"}"#,
            "error object, not a page: WKS.0001: Internal error",
        ),
    ];
    let responses = cases
        .iter()
        .map(|(body, _)| {
            let headers = vec![("X-Request-Id", "rid-1".to_owned())];
            (200, headers, body.to_string())
        })
        .collect();
    let (url, server) = support::one_shot_server(responses);
    let client = plain_client(&url, Arc::new(ManualClock::at_2026()));
    for (body, needle) in cases {
        let err = client.list_subtasks(&job_query()).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, Error::Decode { .. }), "{body}: {err:?}");
        assert!(err.is_retryable(), "{body}");
        assert!(text.contains(needle), "{body}: {text}");
        assert!(text.contains("request id rid-1"), "{text}");
        assert!(!text.contains('\n'), "{text}");
    }
    server.join().unwrap();
}

#[test]
fn a_wrong_type_in_an_optional_field_does_not_cost_the_page() {
    let body = r#"{"total_count":2,"jobs":[{"id":"a","process":"50","status":7},
        {"id":"b","status":"SUCCESS","entities":[1],"end_time":0}]}"#;
    let (url, server) = support::one_shot_server(vec![(200, vec![], body.to_owned())]);
    let page = plain_client(&url, Arc::new(ManualClock::at_2026()))
        .list_subtasks(&job_query())
        .unwrap();
    assert_eq!(page.subtasks[0].process, Some(50));
    assert_eq!(page.subtasks[0].status, None);
    assert_eq!(page.subtasks[1].status, Some(SubtaskStatus::Success));
    assert_eq!(
        (&page.subtasks[1].entities, &page.subtasks[1].end_time),
        (&None, &None)
    );
    server.join().unwrap();
}

#[test]
fn retry_after_as_an_http_date_is_measured_from_the_clients_clock() {
    let clock = Arc::new(ManualClock::at_2026());
    let now = clock.system_time();
    let date = |secs: u64| httpdate(now + secs_duration(secs));
    let throttled = |retry_after: String| {
        let body = r#"{"error_code":"APIGW.0308","error_msg":"throttled"}"#.to_owned();
        (429, vec![("Retry-After", retry_after)], body)
    };
    let (url, server) = support::one_shot_server(vec![
        throttled(date(90)),
        throttled("Thu, 01 Jan 1970 00:00:00 GMT".to_owned()),
        throttled("99999999999999999999999".to_owned()),
        throttled("Fri, 31 Dec 9999 23:59:59 GMT".to_owned()),
    ]);
    let client = plain_client(&url, clock.clone());
    let first = client.list_subtasks(&job_query()).unwrap_err();
    assert_eq!(first.retry_after(), Some(secs(90)));
    assert!(first.is_throttled() && first.is_retryable());
    let past = client.list_subtasks(&job_query()).unwrap_err();
    assert_eq!(past.retry_after(), Some(Duration::ZERO));
    let huge = client.list_subtasks(&job_query()).unwrap_err();
    assert_eq!(huge.retry_after(), Some(Duration::from_secs(u64::MAX)));
    let far = client.list_subtasks(&job_query()).unwrap_err();
    assert!(far.retry_after().unwrap() > secs(200_000_000_000));
    server.join().unwrap();
}

fn secs_duration(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// `time` as an IMF-fixdate, written independently of the crate's parser.
fn httpdate(time: std::time::SystemTime) -> String {
    let secs = time
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let days = (secs / 86_400) as i64;
    // 1970-01-01 was a Thursday.
    let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][(days % 7) as usize];
    // Days to a civil date (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let rem = secs % 86_400;
    format!(
        "{weekday}, {day:02} {} {year} {:02}:{:02}:{:02} GMT",
        months[(month - 1) as usize],
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

#[test]
fn a_refused_connection_names_host_and_port_and_ends_at_once() {
    let port = support::closed_port();
    let client = plain_client(
        &format!("http://127.0.0.1:{port}"),
        Arc::new(ManualClock::at_2026()),
    );
    let err = client.list_subtasks(&job_query()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Transport {
                kind: TransportKind::Refused,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(!err.is_retryable());
    let text = err.to_string();
    assert!(
        text.starts_with(&format!("connection refused by 127.0.0.1:{port} on GET")),
        "{text}"
    );
}

#[test]
fn clones_polling_from_threads_at_once_each_get_their_whole_page() {
    let sim = Simulator::start(Scenario::desktops(JOB, 300)).unwrap();
    let client = client(&sim);
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let client = client.clone();
            std::thread::spawn(move || {
                (0..5)
                    .map(|_| client.list_subtasks(&job_query()).unwrap())
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    // The simulator runs in real time, so states move between calls; the subtasks listed
    // (and their order) do not.
    let ids = |page: &wks_waiter::model::SubtaskPage| -> Vec<String> {
        page.subtasks
            .iter()
            .map(|j| j.id.clone().unwrap())
            .collect()
    };
    let expected = ids(&client.list_subtasks(&job_query()).unwrap());
    assert_eq!(expected.len(), 300);
    for thread in threads {
        for page in thread.join().unwrap() {
            assert!(ids(&page) == expected, "a page differs");
        }
    }
}

/// A job's details are decoded from a buffer when small, and as their body arrives when it
/// announces over 1 MiB (3,000 subtasks inline here): either way, every way the body can
/// fail is told apart as for a listing's page.
#[test]
fn job_details_read_as_they_arrive_fail_as_a_buffered_body_would() {
    for desktops in [100, 3_000] {
        job_details_fail_alike(desktops);
    }
}

fn job_details_fail_alike(desktops: usize) {
    let details = |fault: Option<Fault>, limit: Option<u64>| {
        let plan = fault.map_or_else(FaultPlan::new, |f| FaultPlan::new().on_request(0, f));
        let sim = Simulator::builder(Scenario::desktops(JOB, desktops))
            .faults(plan)
            .start()
            .unwrap();
        let mut client = builder(&sim).credentials(aksk(&sim));
        if let Some(limit) = limit {
            client = client.max_body_bytes(limit);
        }
        let result = client.build().unwrap().get_job(JOB);
        let logged = sim.requests()[0].clone();
        (result, logged)
    };

    let (job, logged) = details(None, None);
    let job = job.unwrap();
    assert_eq!(
        (job.sub_jobs.len(), job.sub_jobs_total),
        (desktops, Some(desktops as u64))
    );
    assert_eq!(job.id.as_deref(), Some(JOB));
    assert_eq!(logged.status, 200);
    assert_eq!(
        logged.body_bytes > 1024 * 1024,
        desktops == 3_000,
        "{} bytes",
        logged.body_bytes
    );

    let (err, logged) = details(Some(Fault::TruncatedBody), None);
    let err = err.unwrap_err();
    let Error::Decode {
        status,
        excerpt,
        length,
        ..
    } = &err
    else {
        panic!("expected a decode error, got {err:?}");
    };
    assert_eq!(*status, 200);
    assert!(excerpt.starts_with("{\""), "{excerpt}");
    assert_eq!(*length, logged.body_bytes);
    assert!(err.to_string().contains("truncated"), "{err}");
    assert!(err.is_retryable());
    assert_eq!(err.request_id(), Some(logged.request_id().as_str()));

    let (err, _) = details(Some(Fault::DropConnection), None);
    let err = err.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Transport {
                kind: TransportKind::Reset,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.is_retryable());

    for (body, says) in [("", "empty"), ("<html>busy</html>", "not valid JSON")] {
        let (err, _) = details(Some(Fault::Body(body.to_owned())), None);
        let err = err.unwrap_err();
        assert!(matches!(err, Error::Decode { .. }), "{body:?}: {err:?}");
        assert!(err.to_string().contains(says), "{body:?}: {err}");
        assert!(err.is_retryable(), "{body:?}");
    }

    let (err, logged) = details(None, Some(1024));
    let err = err.unwrap_err();
    assert!(
        matches!(
            err,
            Error::ResponseTooLarge {
                limit: 1024,
                status: 200,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.request_id(), Some(logged.request_id().as_str()));
}
