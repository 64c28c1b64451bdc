#!/usr/bin/env python3
"""CPU cost per poll of the official Huawei Cloud Python SDK (huaweicloudsdkworkspace).

Fetches `GET /v2/{project_id}/workspace-sub-jobs` pages with
`WorkspaceClient.list_ita_sub_jobs(ListItaSubJobsRequest(...))` against a local
simulator and prints one JSON line:

  {"sdk_version": ..., "python": ..., "requests": R*N, "cpu_seconds": ...,
   "thread_cpu_seconds": ..., "wall_seconds": ..., "cpu_ms_per_request": ...,
   "wall_ms_p50": ..., "wall_ms_max": ..., "peak_rss_kb": ..., "jobs_seen": ...}

Only the fetch loop is measured. `cpu_seconds` is time.process_time(), which
counts every thread of the process: the SDK signs each request on its own
ThreadPoolExecutor. `thread_cpu_seconds` is time.thread_time(), the main thread
alone. `wall_seconds` includes any --pause. `peak_rss_kb` is the process's peak resident set (ru_maxrss, KiB on
Linux), imports included. Import and client construction are not timed. Any
failed request aborts with a message on stderr and exit status 1.

Usage:
  python3 sdk_poll.py --endpoint http://127.0.0.1:PORT --project-id P --ak AK --sk SK \
      --job-id J --pages N --limit L --repeat R [--status FAILED --status RUNNING] [--warmup W] [--pause S]

Setup: `cargo bench --bench loopback` creates target/pyvenv and installs the pinned
requirements.txt into it; by hand: python3 -m venv /tmp/pyvenv && /tmp/pyvenv/bin/pip install -r benches/python/requirements.txt
"""
import argparse
import json
import platform
import resource
import sys
import time
from importlib import metadata


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--endpoint", required=True, help="e.g. http://127.0.0.1:8080 (http:// is kept as is)")
    p.add_argument("--project-id", required=True)
    p.add_argument("--ak", required=True)
    p.add_argument("--sk", required=True)
    p.add_argument("--job-id", required=True)
    p.add_argument("--pages", type=int, required=True, help="pages per round (offset 0, L, 2L, ...)")
    p.add_argument("--limit", type=int, required=True, help="page size")
    p.add_argument("--repeat", type=int, required=True, help="rounds")
    p.add_argument("--status", action="append", default=None,
                   help="optional status filter; repeat for several (sent as status=A&status=B)")
    p.add_argument("--warmup", type=int, default=0,
                   help="unmeasured requests before the loop (default 0)")
    p.add_argument("--pause", type=float, default=0.0,
                   help="seconds to sleep before each measured request, as a waiter sleeps "
                        "between polls (caches go cold); not in the per-request wall times "
                        "(default 0)")
    p.add_argument("--timeout", type=float, default=30.0, help="per-request timeout, seconds")
    a = p.parse_args(argv)
    for name in ("pages", "limit", "repeat"):
        if getattr(a, name) <= 0:
            p.error("--%s must be > 0" % name)
    if a.warmup < 0:
        p.error("--warmup must be >= 0")
    if a.pause < 0:
        p.error("--pause must be >= 0")
    return a


def die(msg):
    sys.stderr.write("sdk_poll: %s\n" % msg)
    sys.stderr.flush()
    sys.exit(1)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)

    from huaweicloudsdkcore.auth.credentials import BasicCredentials
    from huaweicloudsdkcore.exceptions.exceptions import SdkException
    from huaweicloudsdkcore.http.http_config import HttpConfig
    from huaweicloudsdkworkspace.v2 import WorkspaceClient, ListItaSubJobsRequest, ListItaSubJobsResponse

    sdk_version = metadata.version("huaweicloudsdkworkspace")

    config = HttpConfig.get_default_config()
    config.timeout = args.timeout
    config.retry_times = 0  # the default; stated so no hidden retry inflates the count
    # project_id given explicitly + with_endpoints (not with_region): no IAM project lookup,
    # no region resolution. An endpoint starting with "http" is used verbatim.
    client = (WorkspaceClient.new_builder()
              .with_http_config(config)
              .with_credentials(BasicCredentials(args.ak, args.sk, args.project_id))
              .with_endpoints([args.endpoint])
              .build())

    def fetch(offset):
        req = ListItaSubJobsRequest(job_id=args.job_id, limit=args.limit, offset=offset)
        if args.status:
            # The model declares `status: str`, but the signer and URL builder expand a list
            # value into repeated, sorted `status=A&status=B` pairs.
            req.status = list(args.status)
        try:
            resp = client.list_ita_sub_jobs(req)
        except SdkException as e:
            die("request offset=%d failed: %s: %s" % (offset, type(e).__name__, e))
        except Exception as e:  # requests/urllib3 errors not wrapped by the SDK
            die("request offset=%d failed: %s: %s" % (offset, type(e).__name__, e))
        if not isinstance(resp, ListItaSubJobsResponse):
            die("offset=%d: unexpected response type %s" % (offset, type(resp).__name__))
        if resp.status_code != 200:
            die("offset=%d: HTTP %s" % (offset, resp.status_code))
        if resp.total_count is None:
            die("offset=%d: response did not decode (no total_count): %r" % (offset, resp.raw_content[:200]))
        n = 0
        for job in resp.jobs or ():
            # Touch fields so any lazy work would be done (decoding is in fact eager).
            if job.id is None and job.status is None:
                die("offset=%d: job decoded without id/status" % offset)
            ent = job.entities
            if ent is not None:
                _ = ent.desktop_id
            n += 1
        return n

    for i in range(args.warmup):
        fetch((i % args.pages) * args.limit)

    jobs_seen = 0
    latencies = []
    wall0 = time.perf_counter()
    cpu0 = time.process_time()
    thread0 = time.thread_time()
    for _ in range(args.repeat):
        for page in range(args.pages):
            if args.pause:
                time.sleep(args.pause)
            start = time.perf_counter()
            jobs_seen += fetch(page * args.limit)
            latencies.append(time.perf_counter() - start)
    thread_cpu = time.thread_time() - thread0
    cpu = time.process_time() - cpu0
    wall = time.perf_counter() - wall0
    latencies.sort()

    requests_done = args.repeat * args.pages
    print(json.dumps({
        "sdk_version": sdk_version,
        "python": platform.python_version(),
        "requests": requests_done,
        "cpu_seconds": round(cpu, 6),
        "thread_cpu_seconds": round(thread_cpu, 6),
        "wall_seconds": round(wall, 6),
        "cpu_ms_per_request": round(cpu * 1000.0 / requests_done, 4),
        "wall_ms_p50": round(latencies[len(latencies) // 2] * 1000.0, 3),
        "wall_ms_max": round(latencies[-1] * 1000.0, 3),
        "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "jobs_seen": jobs_seen,
    }))
    sys.stdout.flush()
    client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
