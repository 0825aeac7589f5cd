#!/usr/bin/env python3
"""Dashboard benchmark: `tonghop serve`'s pages on the whole-country lake, server and browser on
this machine.

1. (unless --lake is given) the lake of the README's main job: `tonghop demo` then
   `tonghop run pipelines/nightly.toml`, in <work>;
2. `tonghop serve` on that lake (HTTP on a free port, PostgreSQL and scheduler off) with an analyst
   token made by `tonghop token`;
3. server: --requests page loads over one keep-alive connection, signed in, cycling through the
   overview of the nation and of provinces (today's units and the old ones), trends and reporting
   pages, for several periods and indicators; the time to the whole answer, p50/p95/max, per page;
4. browser: headless Chromium through chromedriver (plain WebDriver over HTTP), signed in through
   the form, then --loads loads of the overview (each a new navigation: pages are `no-store`),
   timed by the browser's own Navigation Timing (request start to the load event), and the page
   weight: the bytes of the page and everything it loaded (decoded); --screenshots DIR also writes
   pictures of the overview, a province, trends and reporting pages.

Targets (issue 18): the overview answers in <= 300 ms p95 on the whole-country demo lake, and the
page weighs <= 1.5 MB with everything it loads.

Usage (from the repository root):
    cargo build --release -p tonghop
    python3 bench/dashboard.py [--lake /path/to/lake] [--work /tmp/tonghop-dashboard] [--json out.json]
"""
import argparse
import http.client
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def tonghop(binary, lake, *args):
    out = subprocess.run([binary, "--project", ROOT, "--lake", lake, "-q", *args], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"tonghop {' '.join(args)} failed:\n{out.stderr}")
    return out


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(binary, lake, work):
    token = tonghop(binary, lake, "token", "--name", "bench-analyst", "--role", "analyst")
    entry = token.stderr[token.stderr.index("[[tokens]]"):]
    port = free_port()
    config = os.path.join(work, "dashboard-bench.toml")
    with open(config, "w") as f:
        f.write(f'lake = "{lake}"\nproject = "{ROOT}"\n[http]\nlisten = "127.0.0.1:{port}"\n[postgres]\nenabled = false\n'
                f'[scheduler]\nenabled = false\n\n{entry}\n')
    log = open(os.path.join(work, "dashboard-bench-serve.log"), "w")
    proc = subprocess.Popen([binary, "serve", "--config", config], stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            http.client.HTTPConnection("127.0.0.1", port, timeout=2).request("GET", "/health")
            break
        except OSError:
            time.sleep(0.2)
    else:
        proc.kill()
        sys.exit("tonghop serve did not start")
    return proc, port, token.stdout.strip()


def sign_in(port, token):
    """The session cookie, through the sign-in form as a browser would."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("GET", "/dang-nhap")
    r = conn.getresponse()
    page = r.read().decode()
    login_cookie = r.getheader("set-cookie").split(";")[0]
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    body = urllib.parse.urlencode({"token": token, "csrf": csrf, "next": "/tong-quan"})
    conn.request("POST", "/dang-nhap", body=body, headers={"content-type": "application/x-www-form-urlencoded", "cookie": login_cookie})
    r = conn.getresponse()
    r.read()
    cookies = [c.split(";")[0] for k, c in r.getheaders() if k.lower() == "set-cookie"]
    session = next(c for c in cookies if c.startswith("tonghop_session="))
    return session


def pages(periods):
    """The page mix: (kind, path and query)."""
    out = []
    indicators = ["BHYT_BAO_PHU", "QLSK_BAO_PHU", "TYT_CO_BS", "XA_DAT_BTC"]
    for i, period in enumerate(periods):
        indicator = indicators[i % len(indicators)]
        out.append(("national", f"/tong-quan?epoch=post2025&period={period}&indicator={indicator}"))
        for province in ["01", "40", "79"]:
            out.append(("province", f"/tong-quan?epoch=post2025&unit={province}&period={period}&indicator={indicator}"))
        out.append(("trends", f"/xu-huong?epoch=post2025&unit=40&period={period}&indicator={indicator}"))
        out.append(("reporting", f"/bao-cao?epoch=post2025&unit={['VN', '01', '40'][i % 3]}&period={period}"))
    out.append(("old province", "/tong-quan?epoch=pre2025&unit=01&period=2024&indicator=BHYT_BAO_PHU"))
    out.append(("old district", "/tong-quan?epoch=pre2025&unit=001&period=2024Q4&indicator=BHYT_BAO_PHU"))
    return out


def server_side(port, session, requests, periods):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    mix = pages(periods)
    times = {}
    for q in [m[1] for m in mix]:  # warm-up: one of each
        conn.request("GET", q, headers={"cookie": session})
        r = conn.getresponse()
        r.read()
        if r.status != 200:
            sys.exit(f"{q} answered {r.status}")
    for i in range(requests):
        kind, q = mix[i % len(mix)]
        start = time.perf_counter()
        conn.request("GET", q, headers={"cookie": session})
        r = conn.getresponse()
        body = r.read()
        elapsed = (time.perf_counter() - start) * 1000
        if r.status != 200:
            sys.exit(f"{q} answered {r.status}")
        times.setdefault(kind, []).append(elapsed)
        times.setdefault("all", []).append(elapsed)
        times.setdefault("bytes", []).append(len(body))
    return times


class WebDriver:
    """The few WebDriver commands the browser part needs, over HTTP."""

    def __init__(self):
        self.driver = subprocess.Popen(["chromedriver", "--port=0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        for line in self.driver.stdout:
            m = re.search(r"started successfully on port (\d+)", line)
            if m:
                self.base = f"http://127.0.0.1:{m.group(1)}"
                break
        self.profile = tempfile.mkdtemp(prefix="tonghop-chromium-")
        caps = {"capabilities": {"alwaysMatch": {"goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": [
            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync", "--window-size=1280,1600",
            f"--user-data-dir={self.profile}"]}}}}
        self.session = self.call("POST", "/session", caps)["sessionId"]

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method, headers={"content-type": "application/json"})
        with urllib.request.urlopen(req, timeout=120) as r:
            return json.loads(r.read())["value"]

    def s(self, method, path, body=None):
        return self.call(method, f"/session/{self.session}{path}", body)

    def find(self, css):
        element = self.s("POST", "/element", {"using": "css selector", "value": css})
        return next(iter(element.values()))

    def close(self):
        try:
            self.s("DELETE", "")
        finally:
            self.driver.kill()


def browser_side(port, token, loads, periods, screenshots=None):
    wd = WebDriver()
    try:
        base = f"http://127.0.0.1:{port}"
        wd.s("POST", "/url", {"url": f"{base}/dang-nhap"})
        wd.s("POST", f"/element/{wd.find('#token')}/value", {"text": token})
        wd.s("POST", f"/element/{wd.find('section.login button')}/click", {})
        timing = "const n = performance.getEntriesByType('navigation')[0]; const r = performance.getEntriesByType('resource');" \
                 "return {load: n.loadEventEnd - n.requestStart, server: n.responseEnd - n.requestStart," \
                 " bytes: n.decodedBodySize + r.reduce((s, e) => s + e.decodedBodySize, 0)," \
                 " urls: [n.name, ...r.map(e => e.name)]};"
        results = []
        for i in range(loads + 2):
            period = periods[i % len(periods)]
            wd.s("POST", "/url", {"url": f"{base}/tong-quan?epoch=post2025&period={period}"})
            for _ in range(50):  # the load event has ended once loadEventEnd is set
                t = wd.s("POST", "/execute/sync", {"script": timing, "args": []})
                if t["load"] > 0:
                    break
                time.sleep(0.05)
            if i >= 2:  # two warm-up loads
                results.append(t)
        outside = sorted({u for t in results for u in t["urls"] if not u.startswith(base)})
        if screenshots:
            import base64
            os.makedirs(screenshots, exist_ok=True)
            wd.s("POST", "/window/rect", {"width": 1280, "height": 2800})
            for name, path in [("overview", f"/tong-quan?epoch=post2025&period={periods[0]}"),
                               ("province", f"/tong-quan?epoch=post2025&unit=40&period={periods[0]}&sort=-value"),
                               ("trends", f"/xu-huong?epoch=post2025&unit=40&period={periods[2]}&indicator=BHYT_BAO_PHU"),
                               ("reporting", f"/bao-cao?epoch=post2025&unit=40&period={periods[1]}")]:
                wd.s("POST", "/url", {"url": base + path})
                time.sleep(0.5)
                with open(os.path.join(screenshots, f"{name}.png"), "wb") as f:
                    f.write(base64.b64decode(wd.s("GET", "/screenshot")))
        return results, outside
    finally:
        wd.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "tonghop"))
    ap.add_argument("--lake", help="an existing lake (default: make the README main job's lake in --work)")
    ap.add_argument("--work", default="/tmp/tonghop-dashboard")
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--loads", type=int, default=40)
    ap.add_argument("--json")
    ap.add_argument("--screenshots", help="also write screenshots of the pages to this folder")
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    lake = args.lake
    if not lake:
        lake = os.path.join(args.work, "lake")
        inbox = os.path.join(args.work, "inbox")
        if not os.path.exists(os.path.join(lake, "models")):
            print("making the whole-country lake (tonghop demo, then the nightly pipeline)...", flush=True)
            tonghop(args.binary, lake, "demo", "--inbox", inbox)
            subprocess.run([args.binary, "--project", ROOT, "--lake", lake, "-q", "run", os.path.join(ROOT, "pipelines/nightly.toml")],
                           check=True, cwd=args.work)
    months = json.load(open(os.path.join(lake, "models", "_build_state.json")))["reporting_months"]
    last = max(months)
    year, month = last[:4], int(last[4:])
    periods = [f"{year}YTD{month:02d}", f"{year}Q{(month + 2) // 3}", last, f"{int(year) - 1}", f"{int(year) - 1}S2"]
    proc, port, token = start_server(args.binary, lake, args.work)
    try:
        session = sign_in(port, token)
        server = server_side(port, session, args.requests, periods)
        loads, outside = browser_side(port, token, args.loads, periods, args.screenshots)
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    figures = {"lake": lake, "periods": periods}
    print(f"\nserver: {args.requests} page loads over one connection (ms, to the whole answer)")
    print(f"{'page':<14} {'n':>4} {'p50':>7} {'p95':>7} {'max':>7}")
    for kind in ["national", "province", "old province", "old district", "trends", "reporting", "all"]:
        t = server.get(kind, [])
        if t:
            print(f"{kind:<14} {len(t):>4} {statistics.median(t):>7.1f} {percentile(t, 95):>7.1f} {max(t):>7.1f}")
            figures[f"server_{kind.replace(' ', '_')}"] = {"n": len(t), "p50": statistics.median(t), "p95": percentile(t, 95), "max": max(t)}
    load = [t["load"] for t in loads]
    weight = max(t["bytes"] for t in loads)
    print(f"\nbrowser: {len(load)} loads of the overview in headless Chromium (ms, request start to load event)")
    print(f"p50 {statistics.median(load):.1f}  p95 {percentile(load, 95):.1f}  max {max(load):.1f}")
    print(f"page weight (page and everything it loaded, decoded): {weight / 1024:.1f} KiB; requests outside the server: {len(outside)}")
    figures["browser_load"] = {"n": len(load), "p50": statistics.median(load), "p95": percentile(load, 95), "max": max(load)}
    figures["page_bytes"] = weight
    figures["outside_requests"] = outside
    ok = percentile(load, 95) <= 300 and figures["server_national"]["p95"] <= 300 and weight <= 1_500_000 and not outside
    print("\ntargets (p95 <= 300 ms, <= 1.5 MB, nothing from outside):", "met" if ok else "NOT met")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(figures, f, indent=2)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
