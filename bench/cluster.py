#!/usr/bin/env python3
"""Distributed-build overhead: `tonghop build --full` in one process against the same build with one
coordinator and N `tonghop worker` processes on this machine.

On one machine the distributed build cannot be faster (the same cores, plus serialising every batch
that crosses a stage and sending it over gRPC): the figure is the overhead, which issue 21 wants at
most 1.5x. One run:

1. (optional, --generate) the dataset: `tonghop demo-history --months 2020-2024 --disaggregations 8`
   (the rollup benchmark's 88 M-row history) into <work>/lake;
2. the single-process full build: wall time, peak RSS (wait4);
3. N workers started (`tonghop worker --listen 127.0.0.1:0`), then the full build again with
   `--workers`: wall time, and the peak RSS of the coordinator and of each worker (workers sampled
   from /proc every 0.2 s);
4. the equivalence check: bench/indicator_values_checksum.sql (per epoch, period, level and
   indicator: counts and rounded sums of every column) and the row count of every model table,
   after each build; exits 1 when they differ.

Usage (from the repository root):
    cargo build --release -p tonghop
    python3 bench/cluster.py --generate [--work /tmp/tonghop-cluster] [--workers 2] [--json out.json]
    python3 bench/cluster.py --lake /path/to/existing/lake
"""

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from ingest import run_measured  # noqa: E402  (seconds, peak RSS MiB from wait4, stdout)


def tonghop(binary, lake, *args, capture=True):
    cmd = [str(binary), "--project", str(ROOT), "--lake", str(lake), "-q", *args]
    return subprocess.run(cmd, check=True, capture_output=capture, text=True).stdout


def rss_mib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except FileNotFoundError:
        pass
    return 0.0


def fingerprint(binary, lake):
    checksum = (ROOT / "bench" / "indicator_values_checksum.sql").read_text()
    figures = tonghop(binary, lake, "sql", "--format", "csv", "--", checksum)
    tables = tonghop(binary, lake, "sql", "--format", "csv",
                     "SELECT table_name FROM information_schema.tables WHERE table_schema = 'models' ORDER BY 1").split()[1:]
    counts = {t: tonghop(binary, lake, "sql", "--format", "csv", f"SELECT count(*) FROM models.{t}").split()[1] for t in tables}
    return figures, counts


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--binary", default=str(ROOT / "target" / "release" / "tonghop"),
                   help="the tonghop binary (default target/release/tonghop; CARGO_TARGET_DIR is honoured)")
    p.add_argument("--work", default="/tmp/tonghop-cluster")
    p.add_argument("--lake", help="an existing lake (default <work>/lake)")
    p.add_argument("--generate", action="store_true")
    p.add_argument("--generate-args", default="--months 2020-2024 --disaggregations 8")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--bytes-per-task", type=int, help="[cluster] bytes_per_task (default: datafusion-distributed's 16 MiB)")
    p.add_argument("--json")
    a = p.parse_args()
    binary = Path(a.binary)
    if not binary.exists() and os.environ.get("CARGO_TARGET_DIR"):
        binary = Path(os.environ["CARGO_TARGET_DIR"]) / "release" / "tonghop"
    lake = Path(a.lake) if a.lake else Path(a.work) / "lake"
    if a.generate:
        lake.parent.mkdir(parents=True, exist_ok=True)
        print(f"generating: demo-history {a.generate_args}", flush=True)
        tonghop(binary, lake, "demo-history", *a.generate_args.split(), capture=False)
    rows = tonghop(binary, lake, "sql", "--format", "csv", "SELECT count(*) FROM lake.data_values").split()[1]

    base = [str(binary), "--project", str(ROOT), "--lake", str(lake), "-q"]
    print("single-process full build ...", flush=True)
    single_s, single_mib, _ = run_measured(base + ["build", "--full"], ROOT)
    single_fp = fingerprint(binary, lake)

    workers, addresses = [], []
    for i in range(a.workers):
        w = subprocess.Popen(base + ["worker", "--listen", "127.0.0.1:0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = w.stdout.readline()
        addresses.append(line.split("http://")[1].split()[0])
        workers.append(w)
    cluster = Path(a.work) / "cluster.toml"
    cluster.parent.mkdir(parents=True, exist_ok=True)
    extra = f"bytes_per_task = {a.bytes_per_task}\n" if a.bytes_per_task else ""
    cluster.write_text("[cluster]\nworkers = [" + ", ".join(json.dumps(x) for x in addresses) + "]\n" + extra)
    peaks = [0.0] * len(workers)
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            for i, w in enumerate(workers):
                peaks[i] = max(peaks[i], rss_mib(w.pid))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    print(f"distributed full build (1 coordinator + {a.workers} workers) ...", flush=True)
    try:
        dist_s, dist_mib, _ = run_measured(base + ["--cluster", str(cluster), "build", "--full"], ROOT)
    finally:
        stop.set()
        sampler.join()
        for w in workers:
            w.terminate()
            w.wait()
    dist_fp = fingerprint(binary, lake)
    same = single_fp == dist_fp

    print()
    print(f"data_values rows: {int(rows):,}")
    print(f"| build --full | wall | peak RSS |")
    print(f"|---|---|---|")
    print(f"| one process | {single_s:.1f} s | {single_mib:,.0f} MiB |")
    print(f"| 1 coordinator + {a.workers} workers | {dist_s:.1f} s ({dist_s / single_s:.2f}x) | coordinator {dist_mib:,.0f} MiB, workers "
          + ", ".join(f"{m:,.0f}" for m in peaks) + " MiB |")
    print(f"equivalence (indicator_values checksum, row count of every model table): {'same' if same else 'DIFFERENT'}")
    if a.json:
        Path(a.json).write_text(json.dumps({"rows": int(rows), "single_seconds": single_s, "single_peak_mib": single_mib,
                                            "distributed_seconds": dist_s, "coordinator_peak_mib": dist_mib,
                                            "worker_peak_mib": peaks, "ratio": dist_s / single_s, "same": same}, indent=2))
    sys.exit(0 if same else 1)


if __name__ == "__main__":
    main()
