"""Peak memory of a gunicorn web worker under load (target <= 200 MB): VmHWM read from /proc/<pid>/status.

    .venv/bin/python bench/worker_memory.py            # 4 workers, 60 s of mixed load, 8 connections
    .venv/bin/python bench/worker_memory.py --code /work/wt/base   # the same load served by another checkout

dsar is served with production settings (PostgreSQL, Redis, SMTP) on a database of its own. Requests are
created first through the API; then wrk sends a mix for the measured time: 40 % submissions, 20 % reads,
20 % answers that render a six-page access letter to PDF in the request (WeasyPrint: the heaviest thing a
web worker does; ``--no-letters`` reads instead), 20 % public pages. Every worker's resident set (VmRSS) and high-water mark (VmHWM) are
sampled four times a second; the figure is the highest VmHWM of any worker. A worker's own children (the
letter renderer, ``dsar.letter_renderer``) are sampled apart and reported beside it.

The letters need a policy without contradictions (``policy_warnings.letter_blockers`` refuses every letter of
``workflows/idomed.yaml`` as written with a 409): the server reads the resolved copy the demo and the tests
use (``dsar.demo_policy.write_resolved_policy``). The count of ``letter_produced`` events is printed: a run
whose answers were refused says so (``--no-letters`` expects 0).
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _harness as h  # noqa: E402

LUA = r"""
local thread_no = 0
function setup(thread)
  thread_no = thread_no + 1
  thread:set("tid", thread_no)
end
function init(args)
  submit_key = args[1]
  staff_key = args[2]
  nthreads = tonumber(args[3])
  run = args[4]
  refs = {}
  for line in io.lines(args[5]) do refs[#refs + 1] = line end
  letters = args[6] == "1"
  i = 0
  next_ref = tid
end
local function json_post(path, key, body)
  return wrk.format("POST", path, {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. key}, body)
end
request = function()
  i = i + 1
  local k = i % 10
  if k < 4 then
    local body = string.format('{"type":"access","channel":"account","language":"fr",' ..
      '"identity":{"method":"account","verified":true},"client_reference":"%s-%d-%d",' ..
      '"subject":{"kind":"professional","first_name":"Jeanne","last_name":"Memoire","email":"m%d.%d.%s@example.test"}}',
      run, tid, i, tid, i, run)
    return json_post("/api/v1/requests", submit_key, body)
  elseif k < 6 then
    local ref = refs[(i * 7 + tid) % #refs + 1]
    return wrk.format("GET", "/api/v1/requests/" .. ref, {["Authorization"] = "Bearer " .. staff_key})
  elseif k < 8 and not letters then
    local ref = refs[(i * 13 + tid) % #refs + 1]
    return wrk.format("GET", "/api/v1/requests/" .. ref, {["Authorization"] = "Bearer " .. staff_key})
  elseif k < 8 and next_ref <= #refs then
    local ref = refs[next_ref]
    next_ref = next_ref + nthreads
    return json_post("/api/v1/requests/" .. ref .. "/actions", staff_key,
      '{"action":"answer","outcome":"no_data","message":"Nous ne détenons aucune donnée vous concernant."}')
  elseif k % 2 == 0 then
    return wrk.format("GET", "/")
  else
    return wrk.format("GET", "/request/new")
  end
end
"""


def _commit(code: Path) -> str:
    import subprocess

    out = subprocess.run(["git", "-C", str(code), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return out.stdout.strip() or "?"


def status_kib(pid: int) -> dict:
    """VmRSS and VmHWM of a process; OSError when it is gone (a zombie has neither)."""
    text = Path(f"/proc/{pid}/status").read_text()
    found = {key: re.search(rf"{key}:\s+(\d+) kB", text) for key in ("VmRSS", "VmHWM")}
    if not all(found.values()):
        raise ProcessLookupError(pid)
    return {key: int(m.group(1)) for key, m in found.items()}


class Sampler(threading.Thread):
    """Samples every worker of the gunicorn master, new ones included (a worker recycled by --max-requests)."""

    def __init__(self, master: int, every: float = 0.25):
        super().__init__(daemon=True)
        self.master, self.every = master, every
        self.peak_hwm: dict[int, int] = {}
        self.peak_rss: dict[int, int] = {}
        self.child_hwm: dict[int, int] = {}     # the workers' own children (the letter renderer)
        self.stop_event = threading.Event()

    def run(self):
        while not self.stop_event.is_set():
            for pid in h.children(self.master):
                try:
                    s = status_kib(pid)
                except OSError:
                    continue
                self.peak_hwm[pid] = max(self.peak_hwm.get(pid, 0), s["VmHWM"])
                self.peak_rss[pid] = max(self.peak_rss.get(pid, 0), s["VmRSS"])
                for child in h.children(pid):
                    try:
                        self.child_hwm[child] = max(self.child_hwm.get(child, 0), status_kib(child)["VmHWM"])
                    except OSError:
                        continue
            time.sleep(self.every)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--requests", type=int, default=1200, help="requests created before the load, to answer")
    parser.add_argument("--no-letters", action="store_true",
                        help="answer nothing (no PDF rendered in the web workers): what the letters cost")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="extra environment for gunicorn, e.g. MALLOC_ARENA_MAX=2")
    parser.add_argument("--gunicorn-arg", action="append", default=[], metavar="ARG",
                        help="extra gunicorn argument, e.g. --gunicorn-arg=--max-requests=500")
    parser.add_argument("--code", type=Path, default=h.ROOT,
                        help="the checkout gunicorn serves (its folder first on sys.path): a baseline, e.g. main's")
    parser.add_argument("--no-wait", action="store_true", help="do not wait for a load average <= 1.5")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    info = h.print_header("peak memory of a web worker under load")
    info["load_at_start"] = h.wait_until_quiet(skip=args.no_wait)
    print(f"   load average at start: {info['load_at_start']:.2f}", flush=True)
    work = Path(tempfile.mkdtemp(prefix="dsar-bench-memory-"))
    with h.temp_database("dsar_bench_memory") as url, h.PrivateRedis() as redis:
        h.migrate(url)
        submit_key = h.make_api_key(url, ["submit"], name="application")
        staff_key = h.make_api_key(url, ["staff"], name="automation")
        from dsar.demo_policy import write_resolved_policy

        policy = write_resolved_policy(h.ROOT / "workflows" / "idomed.yaml", work / "idomed-resolved.yaml")
        env = h.production_env(url, redis.url, DSAR_API_RATE_LIMIT="100000000 per minute", DSAR_POLICY=policy)
        code = args.code.resolve()
        env["PYTHONPATH"] = str(code)
        env.update(dict(item.split("=", 1) for item in args.env))
        port = h.free_port()
        print(f"   serving {code} (commit {_commit(code)})", flush=True)
        proc = h.gunicorn("wsgi:app", env, workers=args.workers, port=port, log=work / "gunicorn.log",
                          extra=args.gunicorn_arg, chdir=code)
        base = f"http://127.0.0.1:{port}"
        try:
            h.wait_http(f"{base}/health", timeout=60, expect=(200, 503))
            time.sleep(1)
            workers = h.children(proc.pid)
            booted = {pid: status_kib(pid) for pid in workers}
            print(f"   {len(workers)} workers booted: RSS " +
                  ", ".join(f"{s['VmRSS'] / 1024:.0f} MB" for s in booted.values()) + "; VmHWM already " +
                  ", ".join(f"{s['VmHWM'] / 1024:.0f} MB" for s in booted.values()), flush=True)
            sampler = Sampler(proc.pid)
            sampler.start()
            run = f"mem{time.time_ns()}"
            auth = {"Authorization": f"Bearer {submit_key}"}
            import urllib.request

            def create(i: int) -> str:
                body = h.account_submission(i, run)
                body["subject"]["kind"] = "professional"
                data = json.dumps(body).encode()
                req = urllib.request.Request(f"{base}/api/v1/requests", data=data, method="POST",
                                             headers={**auth, "Content-Type": "application/json"})
                with urllib.request.urlopen(req, timeout=60) as response:
                    return json.loads(response.read())["reference"]

            with ThreadPoolExecutor(args.connections) as pool:
                refs = list(pool.map(create, range(args.requests)))
            (work / "refs.txt").write_text("\n".join(refs) + "\n")
            (work / "mix.lua").write_text(LUA)
            print(f"   {len(refs)} requests created; mixed load for {args.seconds} s", flush=True)
            result = h.run_wrk(f"{base}/", seconds=args.seconds, connections=args.connections, threads=args.threads,
                               script=work / "mix.lua",
                               args=[submit_key, staff_key, str(args.threads), run, str(work / "refs.txt"),
                                     "0" if args.no_letters else "1"])
            time.sleep(1)
            sampler.stop_event.set()
            sampler.join()
            final = {}
            for pid in h.children(proc.pid):
                try:
                    final[pid] = status_kib(pid)
                except OSError:
                    pass
            import sqlalchemy as sa

            eng = sa.create_engine(url)
            with eng.connect() as c:
                letters = c.execute(sa.text("SELECT count(*) FROM events WHERE action = 'letter_produced'")).scalar()
            eng.dispose()
        finally:
            h.stop(proc)
    peak = max(sampler.peak_hwm.values())
    print(f"   load: {result['requests']} requests, {result['rps']:.1f} req/s, non-2xx {result['non_2xx']}, "
          f"p50 {result['p50_ms']:.0f} ms, p99 {result['p99_ms']:.0f} ms; {letters} letters rendered "
          f"(letter_produced events)", flush=True)
    if not args.no_letters and not letters:
        print("   WARNING: no letter was rendered: every answer was refused (see the gunicorn log)", flush=True)
    for pid in sorted(sampler.peak_hwm):
        booted_mb = f"{booted[pid]['VmRSS'] / 1024:.0f} MB" if pid in booted else "later (a recycled worker)"
        after = f"{final[pid]['VmRSS'] / 1024:.0f} MB" if pid in final else "gone"
        print(f"   worker {pid}: booted {booted_mb}, peak VmHWM {sampler.peak_hwm[pid] / 1024:.0f} MB, after the load {after}")
    if sampler.child_hwm:
        print(f"   children of the workers (the letter renderer since issue 19 item 10): {len(sampler.child_hwm)}, "
              f"peak VmHWM of one {max(sampler.child_hwm.values()) / 1024:.0f} MB (outside the web workers)")
    print(f"== result: peak VmHWM of a worker {peak / 1024:.0f} MB (target <= 200 MB: "
          f"{'met' if peak / 1024 <= 200 else 'MISSED'}); load average now {h.load_average():.2f}")
    if args.json:
        result.pop("raw", None)
        args.json.write_text(json.dumps({
            "machine": info, "load": result, "letters": letters, "code": str(args.code),
            "renderer_children_peak_hwm_kib": sorted(sampler.child_hwm.values()),
            "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "workers": {pid: {"booted_kib": booted.get(pid), "peak_hwm_kib": sampler.peak_hwm[pid],
                              "final_kib": final.get(pid)} for pid in sorted(sampler.peak_hwm)},
            "peak_hwm_mib": peak / 1024}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
