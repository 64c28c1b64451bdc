//! CPU cost of the client's hot paths: decoding a full page, signing a request, and one
//! full poll cycle (every page decoded and aggregated) of a 10,000-subtask job.
//!
//! `cargo bench --bench client`
//!
//! Before the timings it prints how many allocations decoding the 1,000-subtask page
//! makes, counted by a global allocator that wraps the system one (one relaxed atomic
//! add per allocation: noise next to the allocation itself).

use std::hint::black_box;
use std::time::{Duration, UNIX_EPOCH};

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use criterion::{criterion_group, Criterion, Throughput};
use wks_waiter::{
    model::{JobDetails, SubtaskPage},
    signing::{sign, SignableRequest},
    source::{FetchedJob, FetchedPage, JobsApi},
    Credentials, Error, SubtaskQuery, Waiter,
};

/// A realistic page: every documented field filled, as a finished desktop job lists them.
fn page_json(total: usize, offset: usize, len: usize) -> Vec<u8> {
    let jobs: Vec<_> = (offset..offset + len)
        .map(|i| {
            serde_json::json!({
                "id": format!("e43caef5-e478-4624-9e8c-{i:012}"),
                "job_id": "0e2dae94-23ff-449a-bb9c-1b808cf2106d",
                "job_type": "createDesktops",
                "project_id": "0605767a3300d5762fb7c0186d9e1779",
                "status": if i % 50 == 7 { "FAILED" } else { "SUCCESS" },
                "process": 100,
                "begin_time": "2026-11-27 06:45:14",
                "end_time": "2026-11-27 07:06:10",
                "host": "10.0.12.7",
                "entities": {
                    "desktop_id": format!("9d30c8ac-77b5-4453-80da-{i:012}"),
                    "desktop_name": format!("desktop-{i:05}"),
                    "user_name": format!("user-{i:05}"),
                    "product_id": "workspace.x86.ultimate.large2",
                    "ip_address": "192.168.0.12"
                },
                "error_code": if i % 50 == 7 { "WKS.0120" } else { "" },
                "fail_reason": if i % 50 == 7 { "insufficient capacity in availability zone" } else { "" }
            })
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({ "total_count": total, "jobs": jobs })).unwrap()
}

/// Serves pre-serialized pages of a finished job, decoding each as the client does.
struct Pages {
    total: usize,
    page_size: usize,
    bodies: Vec<Vec<u8>>,
}

impl Pages {
    fn new(total: usize, page_size: usize) -> Self {
        let bodies = (0..total)
            .step_by(page_size)
            .map(|offset| page_json(total, offset, page_size.min(total - offset)))
            .collect();
        Self {
            total,
            page_size,
            bodies,
        }
    }
}

impl JobsApi for Pages {
    fn project_id(&self) -> &str {
        "bench-project"
    }

    fn fetch_job(&self, _: &str, _: Option<Duration>) -> Result<FetchedJob, Error> {
        let body = format!(r#"{{"status":"SUCCESS","sub_jobs_total":{}}}"#, self.total);
        let job = JobDetails::from_json(body.as_bytes()).expect("bench job is valid");
        Ok(FetchedJob::new(job, body.len(), None))
    }

    fn fetch_page(&self, query: &SubtaskQuery, _: Option<Duration>) -> Result<FetchedPage, Error> {
        let index = query.offset() as usize / self.page_size;
        let body = self
            .bodies
            .get(index)
            .map_or(&b"{\"total_count\":0,\"jobs\":[]}"[..], Vec::as_slice);
        let page = SubtaskPage::from_json(body).expect("bench pages are valid");
        assert!(page.total_count as usize == self.total);
        Ok(FetchedPage::new(page, body.len(), None))
    }
}

fn decode(c: &mut Criterion) {
    let body = page_json(1000, 0, 1000);
    let mut group = c.benchmark_group("decode");
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.bench_function("page_of_1000_subtasks", |b| {
        b.iter(|| SubtaskPage::from_json(black_box(&body)).unwrap())
    });
    group.finish();
}

fn signing(c: &mut Criterion) {
    let Credentials::AccessKey(key) = Credentials::access_key(
        "QTWAOYTTINDUT2QVKYUC",
        "MFyfvK41ba2giqM7Uio6PznpdUKGpownRZlmVmHc",
    )
    .unwrap() else {
        unreachable!()
    };
    let query = SubtaskQuery::builder()
        .job_id("0e2dae94-23ff-449a-bb9c-1b808cf2106d")
        .limit(1000)
        .offset(2000)
        .build()
        .unwrap()
        .canonical_string();
    let headers = [
        ("content-type", "application/json"),
        ("host", "workspace.cn-north-4.myhuaweicloud.com"),
        ("x-project-id", "0605767a3300d5762fb7c0186d9e1779"),
    ];
    let time = UNIX_EPOCH + Duration::from_secs(1_795_000_000);
    c.bench_function("sign/get_sub_jobs", |b| {
        b.iter(|| {
            let request = SignableRequest {
                method: "GET",
                path: "/v2/0605767a3300d5762fb7c0186d9e1779/workspace-sub-jobs",
                query: black_box(&query),
                headers: &headers,
                body: b"",
            };
            sign(&request, &key, time)
        })
    });
}

fn poll_cycle(c: &mut Criterion) {
    let pages = Pages::new(10_000, 1000);
    let bytes: usize = pages.bodies.iter().map(Vec::len).sum();
    let waiter = Waiter::builder(pages).build().unwrap();
    let mut group = c.benchmark_group("poll_cycle");
    group.throughput(Throughput::Bytes(bytes as u64));
    group.sample_size(20);
    group.bench_function("job_of_10000_subtasks", |b| {
        b.iter(|| {
            // The job is finished, so a wait is exactly one poll cycle: 10 pages decoded,
            // every subtask tracked, the outcome aggregated.
            let outcome = waiter.wait("0e2dae94-23ff-449a-bb9c-1b808cf2106d").unwrap();
            assert_eq!(outcome.polls, 1);
            black_box(outcome.failures().len())
        })
    });
    group.finish();
}

/// Counts allocations (and reallocations) made through the system allocator.
struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);
static ALLOCATED_BYTES: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator, whose contract the
// caller already upholds; the counters have no effect on the memory returned.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        ALLOCATED_BYTES.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: as for this trait method.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as for this trait method.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        ALLOCATED_BYTES.fetch_add(new_size, Ordering::Relaxed);
        // SAFETY: as for this trait method.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Allocations of one decode of the 1,000-subtask page: the per-subtask cost that no
/// timing on a shared machine can blur.
fn report_allocations() {
    let body = page_json(1000, 0, 1000);
    let (count0, bytes0) = (
        ALLOCATIONS.load(Ordering::Relaxed),
        ALLOCATED_BYTES.load(Ordering::Relaxed),
    );
    let page = SubtaskPage::from_json(black_box(&body)).unwrap();
    let (count1, bytes1) = (
        ALLOCATIONS.load(Ordering::Relaxed),
        ALLOCATED_BYTES.load(Ordering::Relaxed),
    );
    assert_eq!(page.subtasks.len(), 1000);
    println!(
        "decode/page_of_1000_subtasks allocations: {} ({:.1} per subtask), {} KiB",
        count1 - count0,
        (count1 - count0) as f64 / 1000.0,
        (bytes1 - bytes0) / 1024
    );
}

criterion_group!(benches, decode, signing, poll_cycle);

fn main() {
    report_allocations();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
