#!/usr/bin/env python3
"""Proof that the official Huawei Cloud Python SDK works against `wks-wait simulate`.

Starts `wks-wait simulate --print-env` on a scenario of its own (a job of 5 desktops of which
2 failed, a job still running, a job that failed as a whole, another user's job), reads the
variables it prints, and drives it with `huaweicloudsdkworkspace`'s WorkspaceClient:

  - list_ita_sub_jobs per job, with a status filter (one and several statuses), and
    project-wide with a status filter; every field of JobDetailInfo decoded;
  - show_job of a finished job, of a job that failed as a whole, and of an unknown one (404);
  - a request signed with a wrong secret key (401 APIGW.0301);

checking that the SDK's SDK-HMAC-SHA256 signatures are accepted and every field decodes to
what the scenario says. Then it reads the simulator's request log (`--log`) and stops it
with SIGTERM, which must end it with exit code 0.

Prints one JSON line: {"sdk_version": ..., "checks": N, "failed": [...]} and exits 0 when
every check passed, 1 otherwise.

Usage:
  python3 simulate_check.py [--wks-wait target/debug/wks-wait]

Setup: the pinned SDK of requirements.txt, as for sdk_poll.py: `cargo bench --bench loopback`
creates target/pyvenv and installs it; by hand:
  python3 -m venv target/pyvenv && target/pyvenv/bin/pip install -r benches/python/requirements.txt
  cargo build && target/pyvenv/bin/python benches/python/simulate_check.py
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
from importlib import metadata

SCENARIO = {
    "description": "simulate_check.py: what the Python SDK is checked against",
    "jobs": [
        {"job_id": "job-done", "desktops": [
            {"end_at": "0s"},
            {"end_at": "0s"},
            {"end_at": "0s"},
            {"end_at": "0s", "fails": {"error_code": "WKS.0120", "fail_reason": "insufficient capacity"}},
            {"end_at": "0s", "fails": {"error_code": "WKS.0181", "fail_reason": "the image is not available"}},
        ]},
        {"job_id": "job-running", "desktops": [{"start_at": "0s"}, {"start_at": "0s"}]},
        {"job_id": "job-broken",
         "failure": {"at": "0s", "error_code": "WKS.0206", "fail_reason": "the desktop quota is exhausted"}},
        {"job_id": "other-user-job", "job_type": "rebuildDesktops", "desktops": [{"end_at": "0s"}]},
    ],
}


class Checks:
    def __init__(self):
        self.count = 0
        self.failed = []

    def check(self, name, condition, detail=""):
        self.count += 1
        if not condition:
            self.failed.append("%s: %s" % (name, detail))
            sys.stderr.write("simulate_check: FAILED %s %s\n" % (name, detail))


def start_simulator(wks_wait, scenario_path, log_path):
    """Starts `wks-wait simulate --print-env`; returns the process and the exported variables.

    Its stdout ends as soon as the variables are printed (it releases it), so reading to EOF
    does not wait for the simulator to stop."""
    proc = subprocess.Popen(
        [wks_wait, "simulate", "--print-env", "--scenario", scenario_path, "--log", log_path],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    text = proc.stdout.read()
    env = {}
    for line in text.splitlines():
        if line.startswith("export "):
            name, _, value = line[len("export "):].partition("=")
            env[name] = value.strip("'")
    if "WKS_WAIT_ENDPOINT" not in env:
        proc.kill()
        sys.exit("simulate_check: wks-wait simulate printed no endpoint: %r %r"
                 % (text, proc.stderr.read()))
    return proc, env


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    p.add_argument("--wks-wait", default=os.path.join(root, "target", "debug", "wks-wait"),
                   help="the wks-wait binary (default: target/debug/wks-wait)")
    args = p.parse_args(argv)

    from huaweicloudsdkcore.auth.credentials import BasicCredentials
    from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
    from huaweicloudsdkcore.http.http_config import HttpConfig
    from huaweicloudsdkworkspace.v2 import (WorkspaceClient, ListItaSubJobsRequest,
                                            ShowJobRequest)

    checks = Checks()
    with tempfile.TemporaryDirectory() as tmp:
        scenario_path = os.path.join(tmp, "scenario.json")
        log_path = os.path.join(tmp, "requests.ndjson")
        with open(scenario_path, "w") as f:
            json.dump(SCENARIO, f)
        proc, env = start_simulator(args.wks_wait, scenario_path, log_path)
        try:
            endpoint = env["WKS_WAIT_ENDPOINT"]
            project_id = env["HUAWEICLOUD_SDK_PROJECT_ID"]
            ak, sk = env["HUAWEICLOUD_SDK_AK"], env["HUAWEICLOUD_SDK_SK"]
            checks.check("job ids printed", env.get("WKS_WAIT_SIMULATOR_JOB_IDS")
                         == "job-done job-running job-broken other-user-job",
                         env.get("WKS_WAIT_SIMULATOR_JOB_IDS"))
            checks.check("pid printed", env.get("WKS_WAIT_SIMULATOR_PID") == str(proc.pid))

            def client_with(secret):
                config = HttpConfig.get_default_config()
                config.timeout = 30
                config.retry_times = 0
                return (WorkspaceClient.new_builder()
                        .with_http_config(config)
                        .with_credentials(BasicCredentials(ak, secret, project_id))
                        .with_endpoints([endpoint])
                        .build())

            client = client_with(sk)

            def listing(**kwargs):
                request = ListItaSubJobsRequest(**{k: v for k, v in kwargs.items() if k != "status"})
                if "status" in kwargs:
                    # Declared `str`; a list is sent as repeated, sorted `status=` pairs.
                    request.status = kwargs["status"]
                return client.list_ita_sub_jobs(request)

            # 1. One job, every subtask, every field.
            resp = listing(job_id="job-done")
            checks.check("listing: status 200", resp.status_code == 200, resp.status_code)
            checks.check("listing: total_count", resp.total_count == 5, resp.total_count)
            jobs = resp.jobs or []
            checks.check("listing: 5 subtasks", len(jobs) == 5, len(jobs))
            for i, job in enumerate(jobs):
                n = i + 1
                checks.check("listing[%d].id" % i, job.id == "job-done-sub-%04d" % n, job.id)
                checks.check("listing[%d].job_id" % i, job.job_id == "job-done", job.job_id)
                checks.check("listing[%d].job_type" % i, job.job_type == "createDesktops", job.job_type)
                checks.check("listing[%d].project_id" % i, job.project_id == project_id, job.project_id)
                checks.check("listing[%d].status" % i, job.status in ("SUCCESS", "FAILED"), job.status)
                checks.check("listing[%d].process" % i, isinstance(job.process, int), job.process)
                checks.check("listing[%d].begin_time" % i,
                             isinstance(job.begin_time, str) and len(job.begin_time) == 19, job.begin_time)
                ent = job.entities
                checks.check("listing[%d].entities" % i, ent is not None
                             and ent.desktop_id == "desk-id-%04d" % n
                             and ent.desktop_name == "desktop-%04d" % n
                             and ent.user_name == "user-%04d" % n, ent)

            # 2. Status filter, one status: the failures with their reasons.
            resp = listing(job_id="job-done", status=["FAILED"])
            failed = resp.jobs or []
            checks.check("FAILED filter: total_count", resp.total_count == 2, resp.total_count)
            checks.check("FAILED filter: only FAILED", all(j.status == "FAILED" for j in failed),
                         [j.status for j in failed])
            checks.check("FAILED filter: reasons decoded",
                         sorted((j.error_code, j.fail_reason) for j in failed)
                         == [("WKS.0120", "insufficient capacity"),
                             ("WKS.0181", "the image is not available")],
                         [(j.error_code, j.fail_reason) for j in failed])

            # 3. Several statuses, repeated in the query (and in the signature).
            resp = listing(job_id="job-running", status=["WAITING", "RUNNING"])
            checks.check("WAITING+RUNNING filter", resp.total_count == 2
                         and all(j.status == "RUNNING" for j in resp.jobs or []),
                         (resp.total_count, [j.status for j in resp.jobs or []]))

            # 4. Project-wide (no job_id), filtered, paged.
            resp = listing(status=["SUCCESS"], limit=2, offset=0)
            checks.check("project-wide SUCCESS: total_count", resp.total_count == 4, resp.total_count)
            checks.check("project-wide SUCCESS: page of 2", len(resp.jobs or []) == 2, len(resp.jobs or []))
            resp = listing(status=["SUCCESS"], limit=2, offset=2)
            checks.check("project-wide SUCCESS: second page",
                         {j.job_id for j in resp.jobs or []} <= {"job-done", "other-user-job"},
                         [j.job_id for j in resp.jobs or []])

            # 5. show_job: a finished job, with its subtasks inline.
            job = client.show_job(ShowJobRequest(job_id="job-done"))
            checks.check("show_job: status 200", job.status_code == 200, job.status_code)
            checks.check("show_job: id", job.id == "job-done", job.id)
            checks.check("show_job: job_type", job.job_type == "createDesktops", job.job_type)
            checks.check("show_job: status FAIL (2 subtasks failed)", job.status == "FAIL", job.status)
            checks.check("show_job: sub_jobs_total", job.sub_jobs_total == 5, job.sub_jobs_total)
            checks.check("show_job: sub_jobs inline", len(job.sub_jobs or []) == 5
                         and all(s.entities is not None and s.entities.desktop_id for s in job.sub_jobs),
                         len(job.sub_jobs or []))

            # 6. show_job: a job that failed as a whole, before any subtask.
            job = client.show_job(ShowJobRequest(job_id="job-broken"))
            checks.check("show_job broken: status", job.status == "FAIL", job.status)
            checks.check("show_job broken: job_error_code", job.job_error_code == "WKS.0206",
                         job.job_error_code)
            checks.check("show_job broken: fail_reason",
                         job.fail_reason == "the desktop quota is exhausted", job.fail_reason)
            checks.check("show_job broken: no subtask", job.sub_jobs_total == 0, job.sub_jobs_total)

            # 7. show_job of an unknown job: 404 with the error body the SDK decodes.
            try:
                client.show_job(ShowJobRequest(job_id="no-such-job"))
                checks.check("show_job unknown: 404", False, "no exception")
            except ClientRequestException as e:
                checks.check("show_job unknown: 404", e.status_code == 404, e.status_code)
                checks.check("show_job unknown: error_code", bool(e.error_code), e.error_code)
                checks.check("show_job unknown: request_id", bool(e.request_id), e.request_id)

            # 8. A wrong secret key: the signature is refused, as the gateway does.
            try:
                client_with("not-the-secret-key").list_ita_sub_jobs(ListItaSubJobsRequest(job_id="job-done"))
                checks.check("wrong SK: 401", False, "no exception")
            except ClientRequestException as e:
                checks.check("wrong SK: 401", e.status_code == 401, e.status_code)
                checks.check("wrong SK: APIGW.0301", e.error_code == "APIGW.0301", e.error_code)
            client.close()
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                code = proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                code = None
            stderr = proc.stderr.read()
        checks.check("SIGTERM ends it cleanly", code == 0, (code, stderr))
        checks.check("SIGTERM is reported", "SIGTERM: stopped" in stderr, stderr)

        # 9. The request log: one line per request the SDK sent, with its key and status.
        with open(log_path) as f:
            records = [json.loads(line) for line in f if line.strip()]
        checks.check("log: every request", len(records) == 9, len(records))
        # The refused signature names no key: the simulator authenticated nobody.
        checks.check("log: signed with the printed AK",
                     all(r["access_key"] == ak for r in records if r["status"] != 401),
                     {r["access_key"] for r in records})
        statuses = [r["status"] for r in records]
        checks.check("log: statuses", statuses == [200] * 7 + [404, 401], statuses)
        checks.check("log: the repeated status filter as sent",
                     any(r["query"] == "job_id=job-running&status=RUNNING&status=WAITING"
                         or r["query"] == "job_id=job-running&status=WAITING&status=RUNNING"
                         for r in records), [r["query"] for r in records])
        checks.check("log: no secret", sk not in json.dumps(records))

    print(json.dumps({
        "sdk_version": metadata.version("huaweicloudsdkworkspace"),
        "checks": checks.count,
        "failed": checks.failed,
    }))
    return 0 if not checks.failed else 1


if __name__ == "__main__":
    sys.exit(main())
