#!/usr/bin/env python3
"""Service benchmark: `tonghop serve` on loopback, bounded in time and count.

1. (unless --lake is given) the lake of the README's main job: `tonghop demo` (whole country, or
   --provinces) then `tonghop run pipelines/nightly.toml`, in <work>;
2. `tonghop serve` on that lake with an admin token, an analyst token and an analyst PostgreSQL user
   (made with `tonghop token` / `tonghop passwd`), HTTP and PostgreSQL on free ports, scheduler off;
3. submissions: --submissions small JSON submissions (one commune, one month, three values each, all
   different, every one valid) sent by --clients threads over keep-alive connections, at most
   --seconds long; throughput (answered per second) and latency percentiles; every answer must be a
   201 with status `accepted`, and after the service stops every answered submission must be in
   the `submissions` table (the run fails otherwise);
4. PostgreSQL: one province's indicators for one year at every level below it (the query analysts
   run most), --queries times in one `psql` session with `\\timing`, after one warm-up; p50/p95/max.

Targets (issue 5): >= 500 submissions/s with p99 <= 200 ms; p95 <= 100 ms for the province query.

Usage (from the repository root):
    cargo build --release -p tonghop
    python3 bench/serve.py [--work /tmp/tonghop-serve] [--provinces post2025:01,pre2025:01] [--json out.json]
"""
import argparse
import http.client
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def tonghop(binary, lake, *args, env=None, stdin=None):
    out = subprocess.run([binary, "--project", ROOT, "--lake", lake, "-q", *args], capture_output=True, text=True, env=env, input=stdin)
    if out.returncode != 0:
        sys.exit(f"tonghop {' '.join(args)} failed:\n{out.stderr}")
    return out


def count_submissions(binary, lake):
    out = tonghop(binary, lake, "sql", "--format", "csv", "SELECT count(*) AS n FROM submissions")
    return int(out.stdout.strip().splitlines()[-1])


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def communes(limit):
    path = os.path.join(ROOT, "reference/admin-units/post2025/wards_3321_2025-07-01.csv")
    with open(path, encoding="utf-8") as f:
        next(f)
        return [line.split(",")[0] for line in f][:limit]


def submit_load(host, port, token, total, clients, seconds, salt):
    codes = communes(3321)
    # Unique bodies: commune i, month and values vary with the sequence number.
    months = [f"2026{m:02d}" for m in range(1, 11)]
    lock = threading.Lock()
    state = {"next": 0, "latencies": [], "bad": []}
    deadline = time.monotonic() + seconds

    def worker():
        conn = http.client.HTTPConnection(host, port, timeout=60)
        while True:
            with lock:
                i = state["next"]
                if i >= total or time.monotonic() > deadline:
                    break
                state["next"] += 1
            code, month = codes[i % len(codes)], months[(i // len(codes)) % len(months)]
            body = json.dumps({"period": month, "org_unit": code, "values": [
                {"data_element": "KCB_TONG", "value": 100 + i + salt},
                {"data_element": "KCB_BHYT", "value": 50 + i % 50},
                {"data_element": "DS_TONG", "value": 10000 + i}]})
            started = time.monotonic()
            try:
                conn.request("POST", f"/api/submissions?filename=s{i}.json", body=body, headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
                r = conn.getresponse()
                answer = r.read()
                status = r.status
            except (http.client.HTTPException, OSError) as e:
                conn.close()
                conn = http.client.HTTPConnection(host, port, timeout=60)
                status, answer = 0, str(e).encode()
            elapsed = time.monotonic() - started
            with lock:
                state["latencies"].append(elapsed)
                if status != 201 or json.loads(answer or b"{}").get("status") != "accepted":
                    state["bad"].append((i, status, answer[:300].decode("utf-8", "replace")))
        conn.close()

    started = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - started
    lat = state["latencies"]
    return {
        "submissions": len(lat),
        "seconds": round(wall, 2),
        "per_second": round(len(lat) / wall, 1),
        "p50_ms": round(percentile(lat, 50) * 1000, 1),
        "p95_ms": round(percentile(lat, 95) * 1000, 1),
        "p99_ms": round(percentile(lat, 99) * 1000, 1),
        "max_ms": round(max(lat) * 1000, 1),
        "not_accepted": len(state["bad"]),
        "first_not_accepted": state["bad"][:3],
    }


def pg_query(port, password, query, n):
    script = "\\timing on\n" + "\n".join([query.rstrip(";") + ";"] * (n + 1)) + "\n"
    env = dict(os.environ, PGPASSWORD=password)
    out = subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(port), "-U", "analyst", "-d", "tonghop", "-X", "-q", "-o", "/dev/null", "-v", "ON_ERROR_STOP=1"],
                         input=script, capture_output=True, text=True, env=env)
    if out.returncode != 0:
        sys.exit(f"psql failed:\n{out.stderr}")
    times = [float(t) for t in re.findall(r"Time: ([0-9.]+) ms", out.stdout + out.stderr)]
    times = times[1:]  # the first run warms the session up
    return {"queries": len(times), "p50_ms": round(statistics.median(times), 1), "p95_ms": round(percentile(times, 95), 1), "max_ms": round(max(times), 1)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "tonghop"))
    ap.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "tonghop-serve"))
    ap.add_argument("--lake", help="an existing lake (skips the demo and the nightly run)")
    ap.add_argument("--provinces", help="demo only these provinces (epoch:code,...)")
    ap.add_argument("--submissions", type=int, default=10000)
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--queries", type=int, default=50)
    ap.add_argument("--salt", type=int, default=int(time.time()) % 1000000 * 100000, help="added to values so that a rerun on the same lake sends new content, not duplicates")
    ap.add_argument("--province-query", default="SELECT level, unit_code, unit_name, period, indicator, value, target, status FROM indicator_values WHERE epoch = 'post2025' AND province_code = '01' AND year = 2026 AND period_type = 'quarter'")
    ap.add_argument("--json")
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    figures = {}
    lake = a.lake or os.path.join(a.work, "lake")
    if not a.lake:
        args = ["demo", "--inbox", os.path.join(a.work, "inbox")] + (["--provinces", a.provinces] if a.provinces else [])
        tonghop(a.binary, lake, *args)
        started = time.monotonic()
        subprocess.run([a.binary, "--project", ROOT, "--lake", lake, "-q", "run", os.path.join(ROOT, "pipelines/nightly.toml")], cwd=a.work, check=True, capture_output=True)
        figures["nightly_seconds"] = round(time.monotonic() - started, 1)
    committed_before = count_submissions(a.binary, lake)
    admin = tonghop(a.binary, lake, "token", "--name", "bench-admin", "--role", "admin")
    password = "bench-password-1"
    user = tonghop(a.binary, lake, "passwd", "analyst", env=dict(os.environ, TONGHOP_PG_PASSWORD=password)).stdout
    entry = admin.stderr[admin.stderr.index("[[tokens]]"):]
    config = os.path.join(a.work, "serve.toml")
    with open(config, "w", encoding="utf-8") as f:
        f.write(f'[http]\nlisten = "127.0.0.1:0"\n[scheduler]\nenabled = false\npipelines = []\n[postgres]\nlisten = "127.0.0.1:0"\n\n{user}\n{entry}\n')
    log = open(os.path.join(a.work, "serve.log"), "w")
    server = subprocess.Popen([a.binary, "--project", ROOT, "--lake", lake, "serve", "--config", config], stdout=subprocess.PIPE, stderr=log, text=True, env=dict(os.environ, RUST_LOG=os.environ.get("RUST_LOG", "warn")))
    try:
        line = server.stdout.readline()
        http_addr = re.search(r"http://([0-9.]+):(\d+)", line)
        pg_port = int(re.search(r"postgres://[0-9.]+:(\d+)", line).group(1))
        figures["postgres_province_query"] = pg_query(pg_port, password, a.province_query, a.queries)
        figures["submissions"] = submit_load(http_addr.group(1), int(http_addr.group(2)), admin.stdout.strip(), a.submissions, a.clients, a.seconds, a.salt)
    finally:
        server.terminate()
        figures["shutdown_exit_code"] = server.wait(timeout=120)
    # Every answered submission must be in the Delta tables once the service has stopped.
    figures["submissions"]["committed_after_stop"] = count_submissions(a.binary, lake) - committed_before
    print(json.dumps(figures, indent=2, ensure_ascii=False))
    if a.json:
        with open(a.json, "w", encoding="utf-8") as f:
            json.dump(figures, f, indent=2, ensure_ascii=False)
    s, q = figures["submissions"], figures["postgres_province_query"]
    ok = s["not_accepted"] == 0 and s["per_second"] >= 500 and s["p99_ms"] <= 200 and q["p95_ms"] <= 100
    print(f"submissions: {s['per_second']}/s, p99 {s['p99_ms']} ms; province query over PostgreSQL: p95 {q['p95_ms']} ms -> {'targets met' if ok else 'TARGETS NOT MET'}")
    if s["committed_after_stop"] != s["submissions"]:
        print(f"LOST: {s['submissions']} answered, {s['committed_after_stop']} committed")
    sys.exit(0 if s["not_accepted"] == 0 and s["committed_after_stop"] == s["submissions"] else 1)


if __name__ == "__main__":
    main()
