//! The simulator through its public API: over HTTP with the crate's `Client` and with
//! requests written by hand, and in-process with `VirtualSource`, in virtual time.
#![cfg(feature = "simulator")]

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use serde_json::{json, Value};
use support::{
    aksk, builder, client, in_virtual_time, mins, raw_exchange, raw_get, read_response, secs,
    CHILD_WATCHDOG,
};
use wks_waiter::model::JobStatus;
use wks_waiter::model::SubtaskStatus;
use wks_waiter::signing::{sign, AccessKey, Secret, SignableRequest};
use wks_waiter::simulator::{
    DesktopPlan, Fault, FaultPlan, IdDefect, JobFailure, JobPlan, Outcome, ProgressShape,
    RateLimit, Scenario, ScenarioFile, Simulator, TimelineSpec, VirtualSource, DEFAULT_PROJECT_ID,
};
use wks_waiter::source::{collect_pages, FetchedPage, JobsApi};
use wks_waiter::test_util::ManualClock;
use wks_waiter::{Cancellation, Credentials, Error, SubtaskQuery};

const JOB: &str = "0e2dae94-23ff-449a-bb9c-1b808cf2106d";
const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/scenario.json");

fn virtual_source(scenario: Scenario) -> (VirtualSource, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::at_2026());
    (VirtualSource::new(scenario, clock.clone()), clock)
}

/// Two waves of 5 desktops, 3 minutes apart, 2 failing.
fn two_waves() -> Scenario {
    Scenario::generate(
        JOB,
        &TimelineSpec {
            waves: 2,
            wave_every: mins(3),
            failures: 2,
            ..TimelineSpec::new(10)
        },
    )
}

#[test]
fn the_example_scenario_file_loads_and_serves() {
    let file = ScenarioFile::load(FIXTURE).unwrap();
    let ids: Vec<_> = file
        .scenario
        .jobs
        .iter()
        .map(|j| j.job_id.as_str())
        .collect();
    assert_eq!(
        ids,
        [
            JOB,
            "5f1c0e4e-7a55-4c3e-9f0a-2d8a6b1c9e77",
            "other-user-rebuild-1",
            "other-user-rebuild-2",
            "other-user-rebuild-3",
            "hand-written-job"
        ]
    );
    assert_eq!(file.rate_limit, Some(RateLimit::per_minute(200).unwrap()));
    assert_eq!(file.extra_keys.len(), 1);
    assert_eq!(file.scenario.page_cap, 100);

    // Served over HTTP in virtual time: the throttle of request 0, then the main job.
    let (sim, client, clock) = in_virtual_time(file.clone().simulator());
    let query = SubtaskQuery::for_job(JOB).unwrap();
    assert!(client.list_subtasks(&query).unwrap_err().is_throttled());
    clock.advance(secs(10));
    let first = client.list_subtasks(&query).unwrap();
    assert_eq!(
        (first.total_count, first.subtasks.len()),
        (100, 100),
        "wave one"
    );
    clock.advance(mins(20));
    let job = client.get_job(JOB).unwrap();
    assert_eq!(job.sub_jobs_total, Some(200));
    assert_eq!(job.status, Some(JobStatus::Failed), "3 desktops failed");
    let doomed_id = "5f1c0e4e-7a55-4c3e-9f0a-2d8a6b1c9e77";
    let unavailable = client.get_job(doomed_id).unwrap_err();
    assert_eq!(
        unavailable.status(),
        Some(503),
        "request 3 of the file's schedule"
    );
    let doomed = client.get_job(doomed_id).unwrap();
    assert_eq!(doomed.job_error_code.as_deref(), Some("WKS.0206"));
    assert_eq!(
        doomed.sub_jobs_total,
        Some(20),
        "the second wave never came"
    );
    drop(sim);

    // The same file in-process answers the same way.
    let clock = Arc::new(ManualClock::at_2026());
    let source = file.virtual_source(clock.clone());
    assert!(source.fetch_page(&query, None).unwrap_err().is_throttled());
    clock.advance(secs(10));
    assert_eq!(
        source.fetch_page(&query, None).unwrap().page.subtasks.len(),
        100
    );
}

#[test]
fn job_details_over_http_and_in_process() {
    let failing = two_waves().job(JobPlan {
        failure: Some(JobFailure::new(secs(0), "WKS.0206", "quota exhausted")),
        ..JobPlan::new("failed-early", vec![DesktopPlan::new(1)])
    });
    let (sim, client, clock) = in_virtual_time(Simulator::builder(failing.clone()));
    let (source, source_clock) = virtual_source(failing);

    for api in [&client as &dyn JobsApi, &source] {
        let missing = api.fetch_job("no-such-job", None).unwrap_err();
        assert_eq!(missing.status(), Some(404));
        let detail = missing.api().unwrap().error_detail.clone().unwrap();
        assert!(detail.contains("no-such-job"), "{detail}");

        let job = api.fetch_job(JOB, None).unwrap().job;
        assert_eq!(job.id.as_deref(), Some(JOB));
        assert_eq!(job.status, Some(JobStatus::Running));
        assert_eq!(
            job.sub_jobs_total,
            Some(10),
            "the second wave counts already"
        );
        assert_eq!(job.sub_jobs.len(), 5);

        let early = api.fetch_job("failed-early", None).unwrap().job;
        assert_eq!(early.status, Some(JobStatus::Failed));
        assert_eq!(
            (
                early.job_error_code.as_deref(),
                early.fail_reason.as_deref()
            ),
            (Some("WKS.0206"), Some("quota exhausted"))
        );
        assert_eq!((early.sub_jobs_total, early.sub_jobs.len()), (Some(0), 0));
        let listing = api
            .fetch_page(&SubtaskQuery::for_job("failed-early").unwrap(), None)
            .unwrap();
        assert_eq!(listing.page.total_count, 0, "it never had a subtask");
    }
    clock.advance(mins(10));
    source_clock.advance(mins(10));
    for api in [&client as &dyn JobsApi, &source] {
        let done = api.fetch_job(JOB, None).unwrap().job;
        assert_eq!(done.status, Some(JobStatus::Failed));
        assert_eq!(done.job_error_code, None, "only subtasks failed");
        assert_eq!(done.sub_jobs.len(), 10);
        assert!(done.end_time.is_some());
    }
    let log = sim.requests();
    assert!(log
        .iter()
        .any(|r| r.path.ends_with("/workspace-jobs/no-such-job") && r.status == 404));
}

#[test]
fn job_details_are_signed_like_every_call() {
    let sim = Simulator::start(Scenario::desktops(JOB, 2)).unwrap();
    let path = format!("/v2/{}/workspace-jobs/{JOB}", sim.project_id());
    let unsigned = raw_exchange(
        &sim.url(),
        &format!(
            "GET {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n"
        ),
    );
    assert_eq!(unsigned.status, 401);
    assert_eq!(unsigned.json()["error_code"], "APIGW.0301");

    // Signed by hand with the public signer, sent by hand.
    let host = sim.url().trim_start_matches("http://").to_owned();
    let key = AccessKey {
        access_key: sim.access_key().to_owned(),
        secret_key: Secret::new(sim.secret_key()),
        security_token: None,
    };
    let headers = [
        ("Host", host.as_str()),
        ("Content-Type", "application/json"),
        ("X-Project-Id", sim.project_id()),
    ];
    let request = SignableRequest {
        method: "GET",
        path: &path,
        query: "",
        headers: &headers,
        body: b"",
    };
    let clock = wks_waiter::time::SystemClock;
    let signature = sign(&request, &key, wks_waiter::time::Clock::system_time(&clock));
    let text = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nX-Project-Id: {}\r\n\
         X-Sdk-Date: {}\r\nAuthorization: {}\r\nConnection: close\r\n\r\n",
        sim.project_id(),
        signature.sdk_date,
        signature.authorization
    );
    let signed = raw_exchange(&sim.url(), &text);
    assert_eq!(signed.status, 200, "{}", signed.body);
    let body = signed.json();
    assert_eq!(body["id"], JOB);
    assert_eq!(body["sub_jobs_total"], 2);
    assert!(signed.header("X-Request-Id").unwrap().starts_with("sim-"));
}

#[test]
fn waves_appear_over_virtual_time() {
    let (source, clock) = virtual_source(two_waves());
    let query = SubtaskQuery::for_job(JOB).unwrap();
    let mut seen = Vec::new();
    for _ in 0..8 {
        seen.push(source.fetch_page(&query, None).unwrap().page.total_count);
        clock.advance(mins(1));
    }
    assert_eq!(seen, [5, 5, 5, 10, 10, 10, 10, 10]);
    // A hand-written plan makes waves the same way: visible_at per desktop.
    let desktops = (1..=4)
        .map(|n| DesktopPlan {
            visible_at: secs(100 * (n as u64 / 3)),
            end_at: Some(secs(500)),
            ..DesktopPlan::new(n)
        })
        .collect();
    let (source, clock) = virtual_source(Scenario::new().job(JobPlan::new("hand", desktops)));
    let query = SubtaskQuery::for_job("hand").unwrap();
    assert_eq!(source.fetch_page(&query, None).unwrap().page.total_count, 2);
    assert_eq!(
        source.fetch_job("hand", None).unwrap().job.sub_jobs_total,
        Some(4)
    );
    clock.advance(secs(100));
    assert_eq!(source.fetch_page(&query, None).unwrap().page.total_count, 4);
}

#[test]
fn progress_shapes_reach_the_client_as_planned() {
    let run = |shape: ProgressShape| DesktopPlan {
        end_at: Some(secs(1000)),
        progress: shape,
        ..DesktopPlan::default()
    };
    let desktops = vec![
        DesktopPlan {
            subtask_id: "front".into(),
            ..run(ProgressShape::FrontLoaded {
                percent: 90,
                within: 10,
            })
        },
        DesktopPlan {
            subtask_id: "absent".into(),
            ..run(ProgressShape::Absent)
        },
        DesktopPlan {
            subtask_id: "reset".into(),
            ..run(ProgressShape::Reset { from: 70, to: 10 })
        },
        DesktopPlan {
            subtask_id: "early-failure".into(),
            end_at: Some(secs(200)),
            nominal_end: Some(secs(1000)),
            outcome: Outcome::failed("WKS.0120", "no capacity"),
            ..run(ProgressShape::Linear)
        },
    ];
    let (sim, client, clock) = in_virtual_time(Simulator::builder(
        Scenario::new().job(JobPlan::new(JOB, desktops)),
    ));
    let query = SubtaskQuery::for_job(JOB).unwrap();
    let process = |at: u64| {
        clock.advance(secs(at) - sim.elapsed());
        let page = client.list_subtasks(&query).unwrap();
        page.subtasks
            .iter()
            .map(|s| (s.id.clone().unwrap(), s.process))
            .collect::<Vec<_>>()
    };
    let at = |values: &[(String, Option<u32>)], id: &str| {
        values.iter().find(|(i, _)| i == id).unwrap().1
    };
    let early = process(100);
    assert_eq!(at(&early, "front"), Some(90));
    assert_eq!(at(&early, "absent"), None);
    assert_eq!(at(&early, "reset"), Some(16));
    assert_eq!(at(&early, "early-failure"), Some(10));
    // The reset comes at 70 of 160 points of climbing: 437.5 s.
    let later = process(440);
    assert_eq!(at(&later, "reset"), Some(10), "retried: back to 10");
    assert_eq!(
        at(&later, "early-failure"),
        Some(19),
        "failed at 200 s, at 19 %"
    );
    let failed = client.list_subtasks(&query).unwrap();
    let failure = failed
        .subtasks
        .iter()
        .find(|s| s.id.as_deref() == Some("early-failure"))
        .unwrap();
    assert_eq!(failure.status, Some(SubtaskStatus::Failed));
    assert_eq!(failure.error_code.as_deref(), Some("WKS.0120"));
    assert_eq!(at(&process(1000), "absent"), None, "not even when done");
}

#[test]
fn every_catalogued_timeline_is_served() {
    for (name, spec) in TimelineSpec::catalog(11) {
        let (source, clock) = virtual_source(Scenario::generate(JOB, &spec));
        let query = SubtaskQuery::for_job(JOB).unwrap();
        let last_end = source.scenario().jobs[0].last_end().unwrap();
        clock.advance(last_end);
        let listing = collect_pages(&query, |q| source.fetch_page(q, None)).unwrap();
        assert!(
            listing.subtasks.iter().all(|s| s.is_terminal()),
            "{name}: not finished at its last end"
        );
        let failed = listing
            .subtasks
            .iter()
            .filter(|s| s.status == Some(SubtaskStatus::Failed))
            .count();
        if spec.job_failure.is_none() {
            assert_eq!(listing.subtasks.len(), spec.desktops, "{name}");
            assert_eq!(failed, spec.failures, "{name}");
        } else {
            assert!(
                listing.subtasks.len() < spec.desktops,
                "{name}: a wave was cut off"
            );
            assert_eq!(failed, listing.subtasks.len(), "{name}");
        }
    }
}

/// What one fetch gave, comparable across front ends.
#[derive(Debug, PartialEq)]
enum Seen {
    Page(wks_waiter::model::SubtaskPage, Option<String>),
    Error {
        status: Option<u16>,
        retryable: bool,
        request_id: Option<String>,
        kind: String,
    },
}

fn seen(result: Result<FetchedPage, Error>) -> Seen {
    match result {
        Ok(fetched) => Seen::Page(fetched.page, fetched.request_id),
        Err(error) => Seen::Error {
            status: error.status(),
            retryable: error.is_retryable(),
            request_id: error.request_id().map(str::to_owned),
            kind: format!("{error:?}")
                .split(['(', ' ', '{'])
                .next()
                .unwrap()
                .to_owned(),
        },
    }
}

/// Ten desktops, 4 per page, half finished at 90 s, beside another job.
fn paged() -> Scenario {
    Scenario::generate(
        JOB,
        &TimelineSpec {
            finish_between: (secs(60), secs(120)),
            ..TimelineSpec::new(10)
        },
    )
    .job(JobPlan::generate("other-job", &TimelineSpec::new(3)))
    .page_cap(4)
}

#[test]
fn both_front_ends_misbehave_identically() {
    let mut faults = Fault::inconsistencies();
    faults.extend([
        Fault::Throttle {
            retry_after: Some(2),
        },
        Fault::ServerError,
        Fault::Unavailable,
        Fault::TruncatedBody,
        Fault::DropConnection,
        Fault::status(403, "APIGW.0302", "forbidden"),
    ]);
    let query = SubtaskQuery::for_job(JOB).unwrap();
    for fault in faults {
        // A listing of three pages whose second request misbehaves, then a clean re-read.
        let plan = FaultPlan::new().on_request(1, fault.clone());
        let (sim, client, clock) =
            in_virtual_time(Simulator::builder(paged()).faults(plan.clone()));
        let (source, source_clock) = virtual_source(paged());
        let source = source.with_faults(plan);
        clock.advance(secs(90));
        source_clock.advance(secs(90));
        let mut over_http = Vec::new();
        let mut in_process = Vec::new();
        for offset in [0, 4, 8, 0, 4, 8] {
            let query = query.with_offset(offset);
            over_http.push(seen(client.fetch_page(&query, None)));
            in_process.push(seen(source.fetch_page(&query, None)));
        }
        assert_eq!(over_http, in_process, "{fault:?}");
        let http_log: Vec<_> = sim
            .requests()
            .into_iter()
            .map(|r| (r.status, r.fault, r.jobs_returned, r.body_bytes))
            .collect();
        let source_log: Vec<_> = source
            .requests()
            .into_iter()
            .map(|r| (r.status, r.fault, r.jobs_returned, r.body_bytes))
            .collect();
        assert_eq!(http_log, source_log, "{fault:?}");
    }
}

#[test]
fn what_the_client_receives_from_each_inconsistency() {
    let query = SubtaskQuery::for_job(JOB).unwrap();
    let listing_on = |index: u64, fault: Fault| {
        let (source, clock) = virtual_source(paged());
        let source = source.with_faults(FaultPlan::new().on_request(index, fault));
        clock.advance(secs(200));
        let listing = collect_pages(&query, |q| source.fetch_page(q, None));
        (listing, source)
    };
    let listing_with = |fault: Fault| listing_on(1, fault);

    // A finished subtask deleted between pages: one subtask is never seen in this listing.
    let (listing, source) = listing_with(Fault::DeleteBetweenPages);
    let listing = listing.unwrap();
    let listed = |list: &wks_waiter::source::SubtaskList| -> Vec<String> {
        list.subtasks
            .iter()
            .map(|s| s.desktop_name().unwrap().to_owned())
            .collect()
    };
    // desktop-0004, read on page one, is deleted; desktop-0005 slides onto page one.
    assert_eq!((listing.subtasks.len(), listing.total_count), (9, 9));
    assert!(!listed(&listing).contains(&"desktop-0005".to_owned()));
    let again = collect_pages(&query, |q| source.fetch_page(q, None)).unwrap();
    assert_eq!(again.subtasks.len(), 9, "the deletion persists");
    assert!(!listed(&again).contains(&"desktop-0004".to_owned()));
    assert!(listed(&again).contains(&"desktop-0005".to_owned()));

    // A subtask inserted between pages: the second page repeats the first's last entry.
    let (listing, source) = listing_with(Fault::InsertBetweenPages);
    let listing = listing.unwrap();
    assert_eq!((listing.subtasks.len(), listing.total_count), (10, 11));
    let again = collect_pages(&query, |q| source.fetch_page(q, None)).unwrap();
    assert_eq!(
        again.subtasks.len(),
        11,
        "the new subtask is listed from now on"
    );

    // Foreign subtasks: the other job's subtasks come through the job_id filter (on the
    // last page, where the wider listing reaches them).
    let (listing, _) = listing_on(2, Fault::ForeignSubtasks);
    let listing = listing.unwrap();
    assert!(listing
        .subtasks
        .iter()
        .any(|s| s.job_id.as_deref() == Some("other-job")));

    // Subtasks without an id cannot be told apart: the client refuses the page as
    // malformed (a retryable error naming the field).
    let (source, clock) = virtual_source(paged());
    let source = source.with_faults(FaultPlan::new().always(Fault::BadIds(IdDefect::Missing)));
    clock.advance(secs(200));
    let err = source.fetch_page(&query, None).unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert!(err.to_string().contains("jobs[0].id"), "{err}");

    // An empty page and a short page are 200s that end a naive listing early.
    let (listing, _) = listing_with(Fault::EmptyPage);
    assert_eq!(listing.unwrap().subtasks.len(), 4);
    let (listing, _) = listing_with(Fault::ShortPage);
    let listing = listing.unwrap();
    assert_eq!(
        listing.subtasks.len(),
        10,
        "a short page shifts the next offset"
    );
    assert_eq!(listing.pages, 3);

    // Malformed bodies: none of them is a page; each is a retryable decode error naming
    // what is wrong.
    let (source, clock) = virtual_source(paged());
    let source = source.with_faults(
        FaultPlan::new()
            .on_request(0, Fault::body("null"))
            .on_request(1, Fault::body("{}"))
            .on_request(
                2,
                Fault::body(r#"{"error_code":"WKS.00000500","error_msg":"x"}"#),
            ),
    );
    clock.advance(secs(200));
    for needle in ["", "total_count", "WKS.00000500"] {
        let err = source.fetch_page(&query, None).unwrap_err();
        assert!(matches!(err, Error::Decode { .. }), "{err:?}");
        assert!(err.is_retryable(), "{err}");
        assert!(err.to_string().contains(needle), "{needle}: {err}");
    }
}

#[test]
fn project_wide_listings_over_http() {
    let scenario = Scenario::new()
        .many("batch", 3, secs(60), &TimelineSpec::new(5))
        .job(JobPlan::generate(
            "someone-else",
            &TimelineSpec {
                failures: 8,
                job_type: "rebuildDesktops".into(),
                desktop_pool_id: Some("pool-9".into()),
                ..TimelineSpec::new(10)
            },
        ));
    let (sim, client, clock) = in_virtual_time(Simulator::builder(scenario));
    let all = |query: SubtaskQuery| client.list_all_subtasks(&query).unwrap();
    let everything = SubtaskQuery::builder().build().unwrap();
    assert_eq!(
        all(everything.clone()).subtasks.len(),
        15,
        "batch-2 and -3 not created yet"
    );
    clock.advance(mins(2));
    assert_eq!(all(everything).subtasks.len(), 25);
    clock.advance(mins(10));
    let failed = all(SubtaskQuery::builder()
        .status(SubtaskStatus::Failed)
        .build()
        .unwrap());
    assert_eq!(failed.subtasks.len(), 8);
    assert!(failed
        .subtasks
        .iter()
        .all(|s| s.job_id.as_deref() == Some("someone-else")));
    let creates = all(SubtaskQuery::builder()
        .job_type("createDesktops")
        .status(SubtaskStatus::Success)
        .status(SubtaskStatus::Failed)
        .build()
        .unwrap());
    assert_eq!(creates.subtasks.len(), 15);
    let pool = all(SubtaskQuery::builder()
        .desktop_pool_id("pool-9")
        .build()
        .unwrap());
    assert_eq!(pool.subtasks.len(), 10);
    // By hand: repeated status parameters, no job_id.
    let raw = raw_get(
        &sim,
        &format!(
            "/v2/{DEFAULT_PROJECT_ID}/workspace-sub-jobs?status=FAILED&status=SUCCESS&limit=1"
        ),
    );
    assert_eq!(raw.status, 200);
    assert_eq!(raw.json()["total_count"], 25);
    assert_eq!(raw.json()["jobs"].as_array().unwrap().len(), 1);
}

#[test]
fn a_throttled_key_gets_huawei_s_429_and_others_keep_their_window() {
    let limited = Simulator::builder(Scenario::desktops(JOB, 3))
        .rate_limit(RateLimit::new(3, mins(1)).unwrap())
        .extra_key("SECONDACCESSKEY00002", "second-secret", None)
        .extra_key(
            "GENEROUSACCESSKEY003",
            "third-secret",
            Some(RateLimit::new(100, mins(1)).unwrap()),
        );
    let (sim, client, clock) = in_virtual_time(limited);
    let keyed = |ak: &str, sk: &str| {
        builder(&sim)
            .credentials(Credentials::access_key(ak, sk).unwrap())
            .clock(clock.clone())
            .build()
            .unwrap()
    };
    let second = keyed("SECONDACCESSKEY00002", "second-secret");
    let third = keyed("GENEROUSACCESSKEY003", "third-secret");
    let query = SubtaskQuery::for_job(JOB).unwrap();
    for _ in 0..3 {
        client.list_subtasks(&query).unwrap();
        clock.advance(secs(10));
    }
    let err = client.list_subtasks(&query).unwrap_err();
    assert!(err.is_throttled(), "{err:?}");
    let api = err.api().unwrap();
    assert_eq!(api.error_code.as_deref(), Some("APIGW.0308"));
    assert_eq!(
        api.error_msg.as_deref(),
        Some("The throttling threshold has been reached: policy user over ratelimit,limit:3,time:1 minute")
    );
    assert_eq!(err.retry_after(), Some(secs(30)));
    for _ in 0..3 {
        second.list_subtasks(&query).unwrap();
    }
    assert!(second.list_subtasks(&query).unwrap_err().is_throttled());
    for _ in 0..10 {
        third.list_subtasks(&query).unwrap();
    }
    // The window slides: at the Retry-After the first key may call again.
    clock.advance(secs(30));
    client.list_subtasks(&query).unwrap();
    let log = sim.requests();
    let throttled: Vec<_> = log
        .iter()
        .filter(|r| r.rate_limited)
        .map(|r| r.access_key.clone().unwrap())
        .collect();
    assert_eq!(throttled, [sim.access_key(), "SECONDACCESSKEY00002"]);

    // In-process, the token's window is the one limited.
    let (source, clock) = virtual_source(Scenario::desktops(JOB, 1));
    let source = source.with_rate_limit(RateLimit::new(1, secs(5)).unwrap());
    source.fetch_page(&query, None).unwrap();
    let err = source.fetch_page(&query, None).unwrap_err();
    assert_eq!(err.retry_after(), Some(secs(5)));
    clock.advance(secs(5));
    source.fetch_page(&query, None).unwrap();
}

/// A writer the test reads back.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn lines(&self) -> Vec<Value> {
        String::from_utf8(self.0.lock().unwrap().clone())
            .unwrap()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }
}

#[test]
fn the_request_log_says_what_a_tool_sent() {
    let path = std::env::temp_dir().join(format!("wks-sim-log-{}.jsonl", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let (sim, client, clock) = in_virtual_time(
        Simulator::builder(Scenario::desktops(JOB, 5).page_cap(2))
            .faults(FaultPlan::new().on_request(1, Fault::ShortPage))
            .log_file(&path),
    );
    clock.advance(secs(3));
    client
        .list_all_subtasks(&SubtaskQuery::for_job(JOB).unwrap())
        .unwrap();
    client.get_job(JOB).unwrap();
    drop(sim);
    let text = std::fs::read_to_string(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let summary: Vec<_> = lines
        .iter()
        .map(|l| {
            (
                l["query"].as_str().unwrap().to_owned(),
                l["status"].as_u64().unwrap(),
                l["fault"].clone(),
                l["subtasks"].as_u64().unwrap(),
            )
        })
        .collect();
    let job = |q: &str| format!("job_id={JOB}{q}");
    assert_eq!(
        summary,
        [
            (job(""), 200, Value::Null, 2),
            (job("&offset=2"), 200, json!("short_page"), 1),
            (job("&offset=3"), 200, Value::Null, 2),
            (String::new(), 200, Value::Null, 5),
        ]
    );
    assert_eq!(lines[0]["time"], "2026-01-01T00:00:03.000Z");
    assert_eq!(lines[0]["elapsed_ms"], 3000);
    assert_eq!(lines[0]["access_key"], "SIMULATORACCESSKEY01");
    assert_eq!(
        lines[3]["path"],
        format!("/v2/{DEFAULT_PROJECT_ID}/workspace-jobs/{JOB}")
    );
    assert!(lines[2]["request_id"].as_str().unwrap().ends_with('2'));
    assert!(lines.iter().all(|l| l["bytes"].as_u64().unwrap() > 0));

    // Any writer, in-process too.
    let captured = Captured::default();
    let (source, _clock) = virtual_source(Scenario::desktops(JOB, 1));
    let source = source.with_request_log(captured.clone());
    source
        .fetch_page(&SubtaskQuery::for_job(JOB).unwrap(), None)
        .unwrap();
    assert_eq!(captured.lines()[0]["subtasks"], 1);
    assert_eq!(
        captured.lines()[0]["access_key"],
        Value::Null,
        "the token is never logged"
    );
}

#[test]
fn a_request_log_that_cannot_be_opened_is_an_error_naming_it() {
    let err = Simulator::builder(Scenario::new())
        .log_file("/nonexistent-dir/log.jsonl")
        .start()
        .unwrap_err();
    assert!(
        err.to_string().contains("/nonexistent-dir/log.jsonl"),
        "{err}"
    );
    let err = Simulator::builder(Scenario::new())
        .max_connections(0)
        .start()
        .unwrap_err();
    assert!(err.to_string().contains("max_connections `0`"), "{err}");
}

#[test]
fn it_serves_on_the_port_asked_for_only_on_loopback() {
    let first = Simulator::start(Scenario::desktops(JOB, 1)).unwrap();
    let port = first.port();
    assert_eq!(first.url(), format!("http://127.0.0.1:{port}"));
    let taken = Simulator::builder(Scenario::new())
        .port(port)
        .start()
        .unwrap_err();
    assert_eq!(taken.kind(), std::io::ErrorKind::AddrInUse);
    drop(first);
    let again = Simulator::builder(Scenario::desktops(JOB, 1))
        .port(port)
        .start()
        .unwrap();
    assert_eq!(again.port(), port);
    client(&again)
        .list_subtasks(&SubtaskQuery::for_job(JOB).unwrap())
        .unwrap();
}

#[test]
fn generated_credentials_are_fresh_and_work() {
    let a = Simulator::builder(Scenario::desktops(JOB, 1))
        .generated_credentials()
        .start()
        .unwrap();
    let b = Simulator::builder(Scenario::new())
        .generated_credentials()
        .start()
        .unwrap();
    assert_ne!(a.access_key(), b.access_key());
    assert_ne!(a.secret_key(), b.secret_key());
    assert_ne!(a.token(), b.token());
    assert_eq!(a.access_key().len(), 20);
    assert!(a
        .access_key()
        .bytes()
        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()));
    assert_eq!(a.secret_key().len(), 40);
    assert!(a.secret_key().bytes().all(|c| c.is_ascii_alphanumeric()));
    assert_ne!(a.access_key(), "SIMULATORACCESSKEY01");
    let listing = client(&a)
        .list_subtasks(&SubtaskQuery::for_job(JOB).unwrap())
        .unwrap();
    assert_eq!(listing.subtasks.len(), 1);
    let by_token = builder(&a)
        .credentials(Credentials::token(a.token()).unwrap())
        .build()
        .unwrap();
    by_token.get_job(JOB).unwrap();
    // The fixed default pair no longer opens it.
    let stale = builder(&a)
        .credentials(Credentials::access_key("SIMULATORACCESSKEY01", "x").unwrap())
        .build()
        .unwrap();
    assert_eq!(
        stale
            .list_subtasks(&SubtaskQuery::for_job(JOB).unwrap())
            .unwrap_err()
            .status(),
        Some(401)
    );
    assert!(!format!("{a:?}").contains(a.secret_key()));
}

/// A keep-alive GET of the job's listing, by hand, with the token.
fn keep_alive_get(sim: &Simulator) -> String {
    format!(
        "GET /v2/{}/workspace-sub-jobs?job_id={JOB} HTTP/1.1\r\nHost: x\r\n\
         Content-Type: application/json\r\nX-Auth-Token: {}\r\n\r\n",
        sim.project_id(),
        sim.token()
    )
}

#[test]
fn an_idle_keep_alive_connection_is_closed() {
    let sim = Simulator::builder(Scenario::desktops(JOB, 1))
        .idle_timeout(Duration::from_millis(50))
        .start()
        .unwrap();
    let mut stream = TcpStream::connect(sim.url().trim_start_matches("http://")).unwrap();
    stream.set_read_timeout(Some(CHILD_WATCHDOG)).unwrap();
    stream.write_all(keep_alive_get(&sim).as_bytes()).unwrap();
    assert_eq!(read_response(&mut stream).status, 200);
    // Then nothing: the server hangs up (the read returning at all is the check).
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
    assert_eq!(sim.requests().len(), 1);
}

#[test]
fn a_slow_client_gets_a_408_and_is_disconnected() {
    let sim = Simulator::builder(Scenario::desktops(JOB, 1))
        .request_timeout(Duration::from_millis(50))
        .start()
        .unwrap();
    let mut stream = TcpStream::connect(sim.url().trim_start_matches("http://")).unwrap();
    stream.set_read_timeout(Some(CHILD_WATCHDOG)).unwrap();
    stream
        .write_all(b"GET /v2/p/workspace-sub-jobs HTTP/1.1\r\nHost: ")
        .unwrap();
    let response = read_response(&mut stream);
    assert_eq!(response.status, 408);
    assert_eq!(response.header("Connection"), Some("close"));
    assert!(response.json()["error_detail"]
        .as_str()
        .unwrap()
        .contains("50ms"));
    assert!(
        sim.requests().is_empty(),
        "an incomplete request is not logged"
    );
}

#[test]
fn a_client_vanishing_mid_request_costs_only_its_connection() {
    let sim = Simulator::start(Scenario::desktops(JOB, 2)).unwrap();
    for cut in [10, 40, keep_alive_get(&sim).len() - 3] {
        let mut stream = TcpStream::connect(sim.url().trim_start_matches("http://")).unwrap();
        stream
            .write_all(&keep_alive_get(&sim).as_bytes()[..cut])
            .unwrap();
        drop(stream);
    }
    let listing = client(&sim)
        .list_subtasks(&SubtaskQuery::for_job(JOB).unwrap())
        .unwrap();
    assert_eq!(listing.subtasks.len(), 2);
    assert_eq!(sim.requests().len(), 1);
}

#[test]
fn many_concurrent_clients_share_a_bounded_number_of_connections() {
    let sim = Arc::new(
        Simulator::builder(Scenario::desktops(JOB, 20).page_cap(5))
            .max_connections(3)
            .start()
            .unwrap(),
    );
    let query = SubtaskQuery::for_job(JOB).unwrap();
    let workers: Vec<_> = (0..12)
        .map(|_| {
            let sim = Arc::clone(&sim);
            let query = query.clone();
            thread::spawn(move || {
                // Each worker keeps its own keep-alive connection between listings.
                let client = client(&sim);
                (0..3)
                    .map(|_| {
                        // The server closes idle connections to make room, as HTTP allows:
                        // a client retries on a fresh one, as a waiter does.
                        let mut tries = 0;
                        loop {
                            tries += 1;
                            match client.list_all_subtasks(&query) {
                                Ok(listing) => break listing.subtasks.len(),
                                Err(Error::Transport { .. }) if tries < 5 => continue,
                                Err(other) => panic!("{other:?}"),
                            }
                        }
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    for worker in workers {
        assert_eq!(worker.join().unwrap(), [20, 20, 20]);
    }
    let log = sim.requests();
    assert!(log.iter().all(|r| r.status == 200));
    assert!(log.len() >= 12 * 3 * 4, "{}", log.len());
}

#[test]
fn it_serves_until_cancelled() {
    let sim = Simulator::start(Scenario::desktops(JOB, 3)).unwrap();
    let url = sim.url();
    let credentials = aksk(&sim);
    let project = sim.project_id().to_owned();
    let cancel = Cancellation::new();
    let server = {
        let cancel = cancel.clone();
        thread::spawn(move || sim.serve_until(&cancel))
    };
    let client = wks_waiter::Client::builder()
        .endpoint(url.clone())
        .project_id(project)
        .credentials(credentials)
        .proxy_from_env(false)
        .build()
        .unwrap();
    let query = SubtaskQuery::for_job(JOB).unwrap();
    assert_eq!(client.list_subtasks(&query).unwrap().subtasks.len(), 3);
    cancel.cancel();
    server.join().unwrap();
    let after = client.list_subtasks(&query).unwrap_err();
    assert!(matches!(after, Error::Transport { .. }), "{after:?}");
}
