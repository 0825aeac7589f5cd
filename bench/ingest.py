#!/usr/bin/env python3
"""Ingest benchmark (issue 3): tonghop against DuckDB on the same files, measured in one run.

Two workloads, generated here from the vendored unit list and catalog (no network, no ../shared):

1. one month of the whole old epoch: 10,035 small CSV files (one per commune, 17 rows each), in an
   inbox folder, ingested end to end and committed (`tonghop ingest inbox/ --keep`);
2. one long CSV of 10,000,000 rows (60 months x 10,035 communes x 17 data elements, cut at 10M),
   ingested as one file (`tonghop ingest big.csv`).

For each: wall time, rows/s and peak memory (max RSS of the tonghop process, from wait4), then the
same files converted by DuckDB (`COPY (SELECT * FROM read_csv(...)) TO '...parquet'`) in the same run.
DuckDB only parses and writes Parquet; tonghop also validates every row against the unit registry
and the catalog, de-duplicates, checks the cross-field rules and commits Delta tables.

Usage (from the repository root):
    cargo build --release -p tonghop
    pip install duckdb
    python3 bench/ingest.py [--work /tmp/tonghop-bench] [--rows 10000000] [--json results.json]
"""

import argparse
import csv
import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ELEMENTS = [row["code"] for row in csv.DictReader(open(ROOT / "catalog/data_elements.csv", encoding="utf-8"))]
BOOLEAN = {row["code"] for row in csv.DictReader(open(ROOT / "catalog/data_elements.csv", encoding="utf-8")) if row["value_type"] == "boolean"}


def communes():
    with open(ROOT / "reference/admin-units/pre2025/communes_10035.csv", encoding="utf-8") as f:
        return [row["code"] for row in csv.DictReader(f)]


def values(rng, commune):
    """Plausible values of one commune-month that satisfy the catalog's cross-field rules."""
    pop = rng.randint(3000, 25000)
    villages = rng.randint(4, 20)
    visits = rng.randint(200, 2500)
    elderly = pop // 9
    listed = rng.randint(60, 120)
    v = {
        "DS_TONG": pop, "DS_BHYT": int(pop * rng.uniform(0.8, 1.0)), "DS_QLSK": int(pop * rng.uniform(0.5, 1.0)),
        "KCB_TONG": visits, "KCB_BHYT": int(visits * rng.uniform(0.5, 1.0)),
        "NCC_TONG": elderly, "NCC_KSK": int(elderly * rng.uniform(0.3, 1.0)),
        "TYT_BS": rng.randint(0, 3), "THON_TONG": villages, "THON_NVYT": rng.randint(0, villages),
        "DVKT_DM": listed, "DVKT_TH": int(listed * rng.uniform(0.6, 1.0)),
    }
    return [(e, v.get(e, rng.randint(0, 1) if e in BOOLEAN else rng.randint(0, 50))) for e in ELEMENTS]


def make_inbox(inbox: Path, period: str):
    rng = random.Random(25)
    shutil.rmtree(inbox, ignore_errors=True)
    inbox.mkdir(parents=True)
    rows = 0
    for code in communes():
        lines = ["period,org_unit,data_element,value"] + [f"{period},{code},{e},{x}" for e, x in values(rng, code)]
        (inbox / f"{code}_{period}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
        rows += len(lines) - 1
    return rows


def make_big_csv(path: Path, limit: int):
    rng = random.Random(26)
    units = communes()
    months = [f"{y}{m:02d}" for y in range(2020, 2025) for m in range(1, 13)]
    rows = 0
    with open(path, "w", encoding="utf-8", buffering=1 << 20) as f:
        f.write("period,org_unit,data_element,value\n")
        for period in months:
            chunk = []
            for code in units:
                for e, x in values(rng, code):
                    chunk.append(f"{period},{code},{e},{x}\n")
            take = min(len(chunk), limit - rows)
            f.writelines(chunk[:take])
            rows += take
            if rows >= limit:
                break
    return rows


def run_measured(cmd, cwd):
    """Runs a command, returning (seconds, peak RSS in MiB, stdout)."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    out, err = proc.stdout.read(), proc.stderr.read()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{' '.join(map(str, cmd))} failed:\n{out}\n{err}")
    return seconds, usage.ru_maxrss / 1024, out


def duckdb_copy(source: str, target: Path):
    import duckdb

    con = duckdb.connect()
    started = time.perf_counter()
    con.execute(f"COPY (SELECT * FROM read_csv('{source}', header = true)) TO '{target}' (FORMAT parquet)")
    return time.perf_counter() - started


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", default="/tmp/tonghop-bench", help="scratch folder (deleted and recreated)")
    p.add_argument("--rows", type=int, default=10_000_000, help="rows of the big CSV")
    p.add_argument("--binary", default=str(ROOT / "target/release/tonghop"))
    p.add_argument("--json", help="also write the figures to this file")
    args = p.parse_args()
    binary = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release/tonghop" if args.binary == str(ROOT / "target/release/tonghop") else Path(args.binary)
    if not binary.exists():
        sys.exit(f"{binary} not found: run `cargo build --release -p tonghop` first")
    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    tonghop = [str(binary), "--project", str(ROOT), "-q"]
    results = {"machine": f"{os.cpu_count()} cores", "binary": str(binary)}

    print("generating one month of the old epoch as 10,035 files ...", flush=True)
    inbox_rows = make_inbox(work / "inbox", "202403")
    seconds, rss, out = run_measured(tonghop + ["--lake", str(work / "lake1"), "ingest", str(work / "inbox"), "--keep"], work)
    assert "10035 ingested" in out, out
    duck = duckdb_copy(str(work / "inbox" / "*.csv"), work / "inbox.parquet")
    results["files"] = {"files": 10035, "rows": inbox_rows, "tonghop_s": round(seconds, 2), "tonghop_peak_mib": round(rss), "duckdb_s": round(duck, 2)}
    print(f"  tonghop: {seconds:.2f} s ({inbox_rows / seconds:,.0f} rows/s), peak {rss:.0f} MiB; DuckDB: {duck:.2f} s")

    print(f"generating a {args.rows:,}-row CSV ...", flush=True)
    big = work / "big.csv"
    rows = make_big_csv(big, args.rows)
    size = big.stat().st_size / 2**20
    seconds, rss, out = run_measured(tonghop + ["--lake", str(work / "lake2"), "ingest", str(big)], work)
    assert f"{rows} accepted" in out.replace(",", ""), out
    duck = duckdb_copy(str(big), work / "big.parquet")
    results["big_csv"] = {"rows": rows, "mib": round(size), "tonghop_s": round(seconds, 2), "tonghop_rows_per_s": round(rows / seconds), "tonghop_peak_mib": round(rss), "duckdb_s": round(duck, 2)}
    print(f"  tonghop: {seconds:.2f} s ({rows / seconds:,.0f} rows/s), peak {rss:.0f} MiB; DuckDB: {duck:.2f} s ({rows / duck:,.0f} rows/s)")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
