#!/usr/bin/env python3
"""Roll-up benchmark: the full build of the sql/ models by tonghop against DuckDB on the same Parquet files.

One run measures:

1. (optional, --generate) the dataset: `tonghop demo-history --months 2020-2024,202501,…,202506
   --disaggregations 8` writes the national history to June 2025 (the last month in the old units)
   straight into <work>/lake (the arguments are --generate-args);
2. the tonghop full build: `tonghop build --full` (or, on a binary without `build`, a one-step
   pipeline spec run with `tonghop run`): wall time and peak memory (max RSS from wait4). It
   computes every model, writes the materialised ones as Delta tables and runs the model tests;
3. DuckDB in a child process, on exactly the live Parquet files of the lake's Delta tables (the
   `add` minus `remove` actions of _delta_log, checkpoint included): the reference and catalog
   tables tonghop registers are exported first (`tonghop sql --format json`, timed apart, not part
   of the build), then every model's SQL, translated to DuckDB's dialect by a few commented
   rewrites (TRANSLATIONS below), runs in the build order of `tonghop models`: CREATE TABLE for
   models that tonghop materialises (`materialized: table` or `memory`), CREATE VIEW for the
   rest, as tonghop does. The materialised models are then written to Parquet and the model tests of sql/*.toml
   are run, so that DuckDB does the same work as the tonghop build (each part is timed apart);
4. the equivalence check: for every `-- materialized: table` model, row counts, the number of
   distinct keys, and per column a checksum (sum of numbers, sum of hashes of strings) of
   tonghop's Delta output against DuckDB's table; --exact also compares every row (numbers rounded
   to 6 decimals). Exits 1 on a mismatch unless --no-check;
5. (optional, --incremental) one more month written by `tonghop demo-history --months 202507`
   (--increment-args: the first month in today's units, as every month since is), then `tonghop build`
   (incremental refresh) timed against the full build.
   This changes the lake: a second run on the same lake starts from the added month;
6. (optional, --query) one province's indicator_values for one year, every level below it, timed
   with `tonghop sql --repeat N` (or, on a binary without --repeat, N whole process runs, which
   also pay for the process start and the session setup), and the same query in DuckDB. With
   --cold N, also N processes each started after the page cache is dropped (root only: it writes
   /proc/sys/vm/drop_caches), timing the first run of the query in each.

Then a table (seconds, ratio, peak MiB, rows per model) and, with --json, the figures as JSON.

Models may hold incremental-refresh macros such as `{{ refresh_months(pm.month) }}`; a full build
expands every `{{ ... }}` to TRUE, and so does the translator.

Usage (from the repository root):
    cargo build --release -p tonghop
    pip install duckdb
    python3 bench/rollups.py --generate [--work /tmp/tonghop-rollups] [--incremental] [--query] [--json results.json]
    python3 bench/rollups.py --lake /path/to/existing/lake [--exact] [--duckdb-memory 6GB]
    python3 bench/rollups.py --selftest      # checks the harness itself (no tonghop needed; `it` runs it)

A small lake for trying it out:
    tonghop demo --inbox /tmp/inbox --provinces pre2025:04,post2025:04
    tonghop ingest /tmp/inbox --keep --lake /tmp/rollups/lake
    python3 bench/rollups.py --work /tmp/rollups --exact --query
"""

import argparse
import json
import os
import re
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import time
import tomllib
import urllib.parse
from collections import OrderedDict
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------------------------------
# Types: DataFusion (Arrow) type names as information_schema.columns prints them, and Delta schema
# types, to DuckDB.

def duckdb_type(arrow: str) -> str:
    """DuckDB type of an Arrow data type as DataFusion's information_schema spells it."""
    t = arrow.strip()
    if t.startswith("Dictionary("):
        # Dictionary(UInt16, Utf8): the value type counts.
        return duckdb_type(t[len("Dictionary("):-1].split(",", 1)[1])
    if t.startswith("Timestamp("):
        # Timestamp(µs, "UTC") / Timestamp(Microsecond, Some("UTC")): with a zone it is an instant.
        return "TIMESTAMPTZ" if ('"' in t and "None" not in t) else "TIMESTAMP"
    simple = {
        "Utf8": "VARCHAR", "Utf8View": "VARCHAR", "LargeUtf8": "VARCHAR",
        "Boolean": "BOOLEAN", "Int8": "TINYINT", "Int16": "SMALLINT", "Int32": "INTEGER", "Int64": "BIGINT",
        "UInt8": "UTINYINT", "UInt16": "USMALLINT", "UInt32": "UINTEGER", "UInt64": "UBIGINT",
        "Float32": "FLOAT", "Float64": "DOUBLE", "Date32": "DATE", "Date64": "DATE", "Null": "VARCHAR",
    }
    if t in simple:
        return simple[t]
    if t.startswith("Decimal128(") or t.startswith("Decimal256("):
        return "DECIMAL" + t[t.index("("):]
    raise ValueError(f"no DuckDB type for the Arrow type {arrow!r}: add it to duckdb_type()")


# --------------------------------------------------------------------------------------------------
# The translator: DataFusion SQL of sql/*.sql to DuckDB SQL.

def mask(sql: str):
    """Replaces string literals with placeholders and drops comments, so that rewrites never touch
    text inside quotes. Returns (masked SQL, literals); unmask() puts the literals back."""
    out, literals, i, n = [], [], 0, len(sql)
    while i < n:
        c = sql[i]
        if sql.startswith("--", i):
            j = sql.find("\n", i)
            i = n if j < 0 else j  # keep the newline
        elif sql.startswith("/*", i):
            j = sql.find("*/", i + 2)
            if j < 0:
                raise ValueError("unterminated /* comment")
            out.append(" ")
            i = j + 2
        elif c in "'\"":
            j = i + 1
            while True:
                j = sql.find(c, j)
                if j < 0:
                    raise ValueError(f"unterminated {c} quote")
                if sql.startswith(c * 2, j):  # '' or "" escapes the quote
                    j += 2
                    continue
                break
            literals.append(sql[i:j + 1])
            out.append(f"\x00{len(literals) - 1}\x00")
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out), literals


def unmask(sql: str, literals) -> str:
    return re.sub(r"\x00(\d+)\x00", lambda m: literals[int(m.group(1))], sql)


def call_span(sql: str, open_paren: int):
    """Index just after the parenthesis that closes the one at open_paren, and the top-level
    comma-separated arguments in between."""
    depth, args, start = 0, [], open_paren + 1
    for i in range(open_paren, len(sql)):
        if sql[i] == "(":
            depth += 1
        elif sql[i] == ")":
            depth -= 1
            if depth == 0:
                args.append(sql[start:i])
                return i + 1, args
        elif sql[i] == "," and depth == 1:
            args.append(sql[start:i])
            start = i + 1
    raise ValueError(f"unbalanced parentheses after {sql[max(0, open_paren - 30):open_paren + 1]!r}")


def rewrite_calls(sql: str, name: str, fn) -> str:
    """Rewrites every call `name(...)` (case-insensitive, not a longer identifier) with fn(args, text),
    which returns the replacement or None to leave the call as it is. Inner calls first."""
    pattern = re.compile(rf"(?<![\w.]){name}\s*\(", re.IGNORECASE)
    pos = 0
    while True:
        m = pattern.search(sql, pos)
        if not m:
            return sql
        end, args = call_span(sql, m.end() - 1)
        inner = [rewrite_calls(a, name, fn) for a in args]
        text = sql[m.start():end]
        new = fn(inner, text)
        if new is None:
            new = sql[m.start():m.end()] + ",".join(inner) + ")"
        sql = sql[:m.start()] + new + sql[end:]
        pos = m.start() + len(new)


def arrow_cast(literals):
    # DataFusion's arrow_cast(x, '<Arrow type>') has no DuckDB twin: a CAST to the DuckDB type. A
    # zone-less TIMESTAMP becomes TIMESTAMPTZ in the session time zone, set to UTC, which is what
    # arrow_cast to Timestamp(_, Some("UTC")) does (it reads the naive value as UTC).
    def fn(args, _text):
        if len(args) != 2:
            return None
        lit = re.fullmatch(r"\s*\x00(\d+)\x00\s*", args[1])
        if not lit:
            raise ValueError("arrow_cast with a type that is not a string literal")
        arrow = literals[int(lit.group(1))][1:-1].replace("''", "'")
        arrow = re.sub(r"Timestamp\(\s*\w+\s*,\s*Some\((.*)\)\s*\)", r'Timestamp(us, \1)', arrow)
        return f"CAST({args[0].strip()} AS {duckdb_type(arrow)})"
    return fn


def ordered_aggregate(duck_name):
    # DataFusion's aggregate first_value/last_value(x ORDER BY y) is DuckDB's first/last(x ORDER BY y):
    # in DuckDB first_value/last_value are window functions only. Both keep NULLs (last(x) of a group
    # whose last row has x NULL is NULL), like DataFusion's default RESPECT NULLS. The window forms
    # (`last_value(x) OVER (...)`, no ORDER BY inside the parentheses) exist in both and are left alone.
    def fn(args, text):
        if not re.search(r"\border\s+by\b", text, re.IGNORECASE):
            return None
        return f"{duck_name}({','.join(args)})"
    return fn


MACRO = re.compile(r"\{\{.*?\}\}", re.DOTALL)
DECIMAL_LITERAL = re.compile(r"(?<![\w.\x00])(\d+\.\d*|\.\d+)(?:[eE][+-]?\d+)?(?![\w.\x00])")

# The rewrites, in order, each with why. Every one but the first works on masked SQL (no comments,
# string literals replaced by placeholders), so nothing inside quotes is ever rewritten.
TRANSLATIONS = [
    ("macros", "{{ refresh_months(x) }} and the other incremental-refresh macros expand to TRUE in a "
     "full build (tonghop build --full); any {{ ... }} becomes TRUE"),
    ("arrow_cast", "arrow_cast(x, 'Timestamp(Microsecond, Some(\"UTC\"))') -> CAST(x AS TIMESTAMPTZ) "
     "(session TimeZone = UTC); other Arrow types map to their DuckDB types"),
    ("ordered aggregates", "aggregate last_value/first_value(x ORDER BY y) -> last/first(x ORDER BY y)"),
    ("decimal literals", "1.0, 100.0, 0.6745 are Float64 in DataFusion but DECIMAL in DuckDB (decimal "
     "arithmetic, other rounding and result types): written as CAST(1.0 AS DOUBLE)"),
    ("now()", "now() -> the instant the tonghop build started, so a deadline that passes between the "
     "two builds cannot turn a pending report into a missing one in only one of them"),
    ("to_char", "DataFusion to_char(x, '%Y%m') (chrono format) -> DuckDB strftime(x, '%Y%m')"),
    ("arrow_typeof", "arrow_typeof(x) -> typeof(x)"),
]


# tonghop's own SQL functions (crates/engine/src/functions.rs) as DuckDB macros with the same rule:
# a straddling period's figure from its own part and the part carried across the 2025 reform.
DUCKDB_MACROS = [
    "CREATE MACRO across_reform(k, o, om, c, cm) AS CASE WHEN c IS NULL THEN o WHEN o IS NULL THEN c "
    "WHEN k = 'sum' THEN o + c WHEN k = 'last' THEN o "
    "WHEN COALESCE(om, 0) + COALESCE(cm, 0) > 0 THEN (o * COALESCE(om, 0) + c * COALESCE(cm, 0)) / (COALESCE(om, 0) + COALESCE(cm, 0)) END",
    "CREATE MACRO across_reform_uses_carried(k, o, c) AS c IS NOT NULL AND (k <> 'last' OR o IS NULL)",
]


def translate(sql: str, now=None):
    """DuckDB SQL for one model's DataFusion SQL, and the names of the rewrites that applied.
    now: a datetime for now() (see TRANSLATIONS), or None to keep DuckDB's own now()."""
    applied = []

    def step(name, new, old):
        if new != old:
            applied.append(name)
        return new

    sql = step("macros", MACRO.sub("TRUE", sql), sql)
    masked, literals = mask(sql)
    masked = step("arrow_cast", rewrite_calls(masked, "arrow_cast", arrow_cast(literals)), masked)
    for df_name, duck_name in [("last_value", "last"), ("first_value", "first")]:
        masked = step("ordered aggregates", rewrite_calls(masked, df_name, ordered_aggregate(duck_name)), masked)
    masked = step("decimal literals", DECIMAL_LITERAL.sub(lambda m: f"CAST({m.group(0)} AS DOUBLE)", masked), masked)
    if now is not None:
        stamp = now.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f+00")
        masked = step("now()", re.sub(r"(?<![\w.])now\s*\(\s*\)", f"TIMESTAMPTZ '{stamp}'", masked, flags=re.IGNORECASE), masked)
    masked = step("to_char", re.sub(r"(?<![\w.])to_char\s*\(", "strftime(", masked, flags=re.IGNORECASE), masked)
    masked = step("arrow_typeof", re.sub(r"(?<![\w.])arrow_typeof\s*\(", "typeof(", masked, flags=re.IGNORECASE), masked)
    if "{{" in masked or "}}" in masked:
        raise ValueError("an unbalanced {{ or }} is left after expanding the macros")
    return unmask(masked, literals).strip().rstrip(";"), sorted(set(applied))


# --------------------------------------------------------------------------------------------------
# Delta: the live Parquet files of a table.

def delta_live_files(table: Path):
    """The live data files of a Delta table (absolute paths, in the order they were added) and its
    partition columns: add minus remove actions over the JSON commits, from the last checkpoint on.
    Fails clearly on what DuckDB's plain Parquet reader cannot honour (deletion vectors, column
    mapping)."""
    log = table / "_delta_log"
    if not log.is_dir():
        raise FileNotFoundError(f"{table} is not a Delta table (no _delta_log)")
    live: "OrderedDict[str, dict]" = OrderedDict()
    partition_columns, start = [], 0
    checkpoint_parts = []
    last = log / "_last_checkpoint"
    if last.exists():
        info = json.loads(last.read_text())
        version, parts = int(info["version"]), info.get("parts")
        if parts:
            checkpoint_parts = [log / f"{version:020d}.checkpoint.{i:010d}.{parts:010d}.parquet" for i in range(1, parts + 1)]
        else:
            checkpoint_parts = [log / f"{version:020d}.checkpoint.parquet"]
        start = version + 1
    elif not (log / f"{0:020d}.json").exists():
        found = sorted(log.glob("*.checkpoint*.parquet"))
        if not found:
            raise FileNotFoundError(f"{log}: neither version 0 nor a checkpoint")
        version = int(found[-1].name.split(".")[0])
        checkpoint_parts = [p for p in found if int(p.name.split(".")[0]) == version]
        start = version + 1

    def apply(action: dict):
        nonlocal partition_columns
        if "metaData" in action:
            meta = action["metaData"]
            partition_columns = list(meta.get("partitionColumns") or [])
            mode = (meta.get("configuration") or {}).get("delta.columnMapping.mode", "none")
            if mode not in ("none", None):
                raise NotImplementedError(f"{table}: column mapping mode {mode!r} is not supported")
        elif "add" in action and action["add"]:
            add = action["add"]
            if add.get("deletionVector"):
                raise NotImplementedError(f"{table}: {add['path']} has a deletion vector, which plain Parquet reading ignores")
            live[add["path"]] = add.get("partitionValues") or {}
        elif "remove" in action and action["remove"]:
            live.pop(action["remove"]["path"], None)

    if checkpoint_parts:
        import duckdb

        missing = [str(p) for p in checkpoint_parts if not p.exists()]
        if missing:
            raise FileNotFoundError(f"{table}: checkpoint files missing: {missing}")
        con = duckdb.connect()
        files = ", ".join(sql_string(str(p)) for p in checkpoint_parts)
        names = {r[0] for r in con.execute(f"DESCRIBE SELECT * FROM read_parquet([{files}], union_by_name = true)").fetchall()}
        if "metaData" in names:
            for (meta,) in con.execute(f"SELECT to_json(metaData) FROM read_parquet([{files}], union_by_name = true) WHERE metaData IS NOT NULL").fetchall():
                apply({"metaData": json.loads(meta)})
        for (add,) in con.execute(f"SELECT to_json(add) FROM read_parquet([{files}], union_by_name = true) WHERE add IS NOT NULL").fetchall():
            add = json.loads(add)
            # Checkpoints store partitionValues as a MAP, which to_json writes as an object or as
            # a list of {key, value}; both become a dict.
            pv = add.get("partitionValues")
            if isinstance(pv, list):
                add["partitionValues"] = {e["key"]: e["value"] for e in pv}
            apply({"add": add})
        con.close()
    commits = sorted((int(p.name[:20]), p) for p in log.glob("*.json") if re.fullmatch(r"\d{20}\.json", p.name))
    expected = start
    for version, path in commits:
        if version < start:
            continue
        if version != expected:
            raise FileNotFoundError(f"{log}: commit {expected} is missing (found {version})")
        expected += 1
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                apply(json.loads(line))
    files = []
    for rel, values in live.items():
        if rel.startswith("file://"):
            path = Path(urllib.parse.unquote(urllib.parse.urlparse(rel).path))
        elif "://" in rel:
            raise NotImplementedError(f"{table}: data file outside the table folder: {rel}")
        else:
            path = table / urllib.parse.unquote(rel)
        # DuckDB takes partition values from the folder names (hive_partitioning): they must agree.
        for col in partition_columns:
            segment = f"{col}={values.get(col)}"
            if segment not in path.parts:
                raise NotImplementedError(f"{table}: {path} is not below a {segment} folder; hive partitioning would read it wrong")
        files.append(str(path))
    return files, partition_columns


def sql_string(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def ident(s: str) -> str:
    return '"' + s.replace('"', '""') + '"'


# --------------------------------------------------------------------------------------------------
# tonghop

def run_measured(cmd, cwd, check=True):
    """Runs a command, returning (seconds, peak RSS in MiB, stdout, stderr)."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out_chunks, err_chunks = [], []
    # Read while waiting so that a chatty process never blocks on a full pipe.
    import threading

    readers = [threading.Thread(target=lambda s=s, b=b: b.append(s.read())) for s, b in ((proc.stdout, out_chunks), (proc.stderr, err_chunks))]
    for r in readers:
        r.start()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    for r in readers:
        r.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    out, err = "".join(out_chunks), "".join(err_chunks)
    if check and proc.returncode != 0:
        sys.exit(f"{' '.join(map(str, cmd))} failed (exit {proc.returncode}):\n{out[-4000:]}\n{err[-4000:]}")
    return seconds, usage.ru_maxrss / 1024, out, err, proc.returncode


class Tonghop:
    def __init__(self, binary: Path, lake: Path):
        self.base = [str(binary), "--project", str(ROOT), "--lake", str(lake)]

    def cmd(self, *args, quiet=True):
        return self.base + (["-q"] if quiet else []) + list(args)

    def ok(self, *args) -> bool:
        return subprocess.run(self.base + list(args), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0

    def output(self, *args) -> str:
        proc = subprocess.run(self.cmd(*args), cwd=ROOT, capture_output=True, text=True)
        if proc.returncode != 0:
            sys.exit(f"tonghop {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
        return proc.stdout

    def rows(self, query: str):
        return json_rows(self.output("sql", "--format", "json", query))


def json_rows(text: str):
    text = text.strip()
    if not text:
        return []
    if text.startswith("["):
        return json.loads(text)
    return [json.loads(line) for line in text.splitlines() if line.strip()]  # newline-delimited


MODEL_LINE = re.compile(r"^\s*\d+\.\s+(\S+)\s+\[(view|table|memory|source)[^\]]*\]\s+(\S+)")


def parse_models(text: str):
    """`tonghop models` output: the models in build order, each with its materialisation, file and
    the models and tables it reads."""
    models = []
    for line in text.splitlines():
        m = MODEL_LINE.match(line)
        if m:
            models.append({"name": m.group(1), "materialized": m.group(2) == "table", "source": m.group(2) == "source", "path": m.group(3),
                           "reads_models": [], "reads_tables": []})
        elif models and line.strip().startswith("reads models:"):
            models[-1]["reads_models"] = [x.strip() for x in line.split(":", 1)[1].split(",") if x.strip()]
        elif models and line.strip().startswith("reads tables:"):
            models[-1]["reads_tables"] = [x.strip() for x in line.split(":", 1)[1].split(",") if x.strip()]
    if not models:
        raise ValueError(f"no model found in the output of `tonghop models`:\n{text}")
    return models


def model_tests(toml_path: Path, name: str):
    """The model tests of sql/<model>.toml as tonghop runs them (engine/src/models.rs test_queries):
    each query must return no row."""
    if not toml_path.exists():
        return []
    t = tomllib.loads(toml_path.read_text(encoding="utf-8")).get("tests", {})
    out = []
    for cols in t.get("unique", []):
        c = ", ".join(cols)
        out.append((f"unique({c})", f"SELECT {c}, COUNT(*) AS n FROM {name} GROUP BY {c} HAVING COUNT(*) > 1"))
    for c in t.get("not_null", []):
        out.append((f"not_null({c})", f"SELECT * FROM {name} WHERE {c} IS NULL"))
    for c, values in t.get("accepted_values", {}).items():
        out.append((f"accepted_values({c})", f"SELECT {c} FROM {name} WHERE {c} NOT IN ({', '.join(sql_string(v) for v in values)})"))
    for c, r in t.get("accepted_range", {}).items():
        conds = ([f"{c} < {r['min']}"] if "min" in r else []) + ([f"{c} > {r['max']}"] if "max" in r else [])
        if conds:
            out.append((f"accepted_range({c})", f"SELECT {c} FROM {name} WHERE {' OR '.join(conds)}"))
    return out


def province_query(epoch: str, province: str, year: int) -> str:
    """One province's indicator_values for one year at every level below it (the province itself,
    its districts before 2025, its communes), in both dialects: the columns province_code and year
    are there for it (indicator_values is written ordered by province within each period)."""
    return (
        "SELECT * FROM indicator_values "
        f"WHERE epoch = '{epoch}' AND province_code = '{province}' AND year = {int(year)} "
        "ORDER BY period, level, unit_code, indicator"
    )


# --------------------------------------------------------------------------------------------------
# DuckDB, in a child process (so that its peak memory is its own): the plan comes as a JSON file.

def duckdb_worker(plan_path: str):
    import duckdb

    plan = json.loads(Path(plan_path).read_text())
    result = {"models": {}, "errors": []}
    con = duckdb.connect(config={"threads": plan["threads"], "temp_directory": plan["temp_directory"]})
    con.execute("SET TimeZone = 'UTC'")  # see the arrow_cast rewrite
    for macro in DUCKDB_MACROS:
        con.execute(macro)
    if plan.get("memory_limit"):
        con.execute(f"SET memory_limit = {sql_string(plan['memory_limit'])}")

    # Reference and catalog tables, as tonghop registers them (not timed with the build).
    started = time.perf_counter()
    for name, t in plan["reference"].items():
        cols = ", ".join(f"{ident(c)} {ty}" for c, ty in t["columns"])
        con.execute(f"CREATE TABLE {ident(name)} ({cols})")
        if t["rows"]:
            spec = ", ".join(f"{sql_string(c)}: {sql_string(ty)}" for c, ty in t["columns"])
            con.execute(f"INSERT INTO {ident(name)} SELECT * FROM read_json({sql_string(t['file'])}, format = 'array', columns = {{{spec}}})")
        got = con.execute(f"SELECT count(*) FROM {ident(name)}").fetchone()[0]
        if got != t["rows"]:
            raise SystemExit(f"reference table {name}: {got} rows loaded, {t['rows']} exported")
    result["reference_load_s"] = time.perf_counter() - started

    # The lake tables: views over exactly the live Parquet files, then the committed-only views.
    for name, t in plan["lake"].items():
        cols = ", ".join(ident(c) for c, _ in t["columns"])
        if t["files"]:
            files = ", ".join(sql_string(f) for f in t["files"])
            options = ""
            if t["partition_columns"]:
                # Partition values come from the folder names; typed VARCHAR as in Delta (a period
                # such as 202401 would otherwise be read as a number).
                types = ", ".join(f"{sql_string(c)}: VARCHAR" for c in t["partition_columns"])
                options = f", hive_partitioning = true, hive_types = {{{types}}}"
            con.execute(f"CREATE VIEW lake_{name} AS SELECT {cols} FROM read_parquet([{files}]{options})")
        else:
            con.execute(f"CREATE TABLE lake_{name} ({', '.join(f'{ident(c)} {ty}' for c, ty in t['columns'])})")
        described = {r[0]: canonical_type(r[1]) for r in con.execute(f"DESCRIBE lake_{name}").fetchall()}
        for c, ty in t["columns"]:
            if described.get(c) != canonical_type(ty):
                result["errors"].append(f"lake.{name}.{c}: DuckDB reads {described.get(c)}, tonghop has {ty}")

    # The build.
    failed = set()
    build_started = time.perf_counter()
    for m in plan["models"]:
        name = m["name"]
        entry = result["models"][name] = {"kind": m["kind"]}
        if failed & set(m["reads_models"]):
            entry["error"] = "not built: reads " + ", ".join(sorted(failed & set(m["reads_models"])))
            failed.add(name)
            continue
        started = time.perf_counter()
        try:
            con.execute(f"CREATE {'TABLE' if m['kind'] == 'table' else 'VIEW'} {name} AS\n{m['sql']}")
        except duckdb.Error as e:
            entry["error"] = f"{type(e).__name__}: {e}"
            failed.add(name)
            continue
        entry["seconds"] = time.perf_counter() - started
    result["build_s"] = time.perf_counter() - build_started
    result["peak_mib_after_build"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    # What tonghop also does in its build: write the materialised models, run the model tests.
    started = time.perf_counter()
    if plan["write_parquet"]:
        out = Path(plan["parquet_dir"])
        out.mkdir(parents=True, exist_ok=True)
        for m in plan["models"]:
            if m["materialized"] and m["name"] not in failed:
                con.execute(f"COPY {m['name']} TO {sql_string(str(out / (m['name'] + '.parquet')))} (FORMAT parquet)")
    result["write_s"] = time.perf_counter() - started
    started = time.perf_counter()
    result["test_failures"] = []
    if plan["run_tests"]:
        for m in plan["models"]:
            if m["name"] in failed:
                continue
            for label, q in m["tests"]:
                if con.execute(f"SELECT count(*) FROM (SELECT * FROM ({q}) LIMIT 3)").fetchone()[0]:
                    result["test_failures"].append(f"{m['name']}: {label}")
    result["tests_s"] = time.perf_counter() - started
    result["peak_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    for m in plan["models"]:  # rows of the tables (views are not computed again)
        if m["kind"] == "table" and m["name"] not in failed:
            result["models"][m["name"]]["rows"] = con.execute(f"SELECT count(*) FROM {m['name']}").fetchone()[0]

    # The equivalence check against tonghop's Delta output.
    result["checks"] = {}
    for m in plan["models"]:
        if m["materialized"] and plan["check"] and m["name"] not in failed:
            result["checks"][m["name"]] = compare(con, m["name"], plan["tonghop_models"].get(m["name"]), m["keys"], plan["exact"])

    if plan.get("query") and "indicator_values" not in failed:
        q, n = plan["query"], plan["query_repeat"]
        times = []
        for _ in range(n):
            # Into a DuckDB temporary table: every column computed, no conversion to Python objects.
            started = time.perf_counter()
            con.execute(f"CREATE OR REPLACE TEMP TABLE province_query AS {q}")
            times.append(time.perf_counter() - started)
        rows = con.execute("SELECT count(*) FROM province_query").fetchone()[0]
        result["query"] = {"rows": rows, "runs": n, "min_s": min(times), "median_s": statistics.median(times)}
    Path(plan["result"]).write_text(json.dumps(result, indent=2, default=str))


def canonical_type(t: str) -> str:
    """DuckDB's DESCRIBE spells some types the long way."""
    return {"TIMESTAMP WITH TIME ZONE": "TIMESTAMPTZ", "TIMESTAMP_US": "TIMESTAMP"}.get(t.upper(), t.upper())


def checksum_query(con, relation: str, columns, keys):
    """One row of figures that two relations with the same content share: row count, distinct keys,
    and per column the non-NULL count plus a sum (numbers), a sum of hashes (strings: exact and
    order-independent) or a sum of epochs (dates, timestamps)."""
    exprs = ["count(*)::DOUBLE AS rows"]
    if keys:
        exprs.append(f"(SELECT count(*) FROM (SELECT DISTINCT {', '.join(ident(k) for k in keys)} FROM {relation}))::DOUBLE AS distinct_keys")
    for c, ty in columns:
        q = ident(c)
        exprs.append(f"count({q})::DOUBLE AS {ident('count(' + c + ')')}")
        t = ty.upper()
        if t.startswith(("DOUBLE", "FLOAT", "DECIMAL", "REAL")) or "INT" in t:
            exprs.append(f"sum({q})::DOUBLE AS {ident('sum(' + c + ')')}")
        elif t == "BOOLEAN":
            exprs.append(f"sum({q}::INTEGER)::DOUBLE AS {ident('true(' + c + ')')}")
        elif t in ("DATE",) or t.startswith("TIMESTAMP"):
            exprs.append(f"sum(epoch({q}::TIMESTAMP))::DOUBLE AS {ident('sum_epoch(' + c + ')')}")
        else:
            exprs.append(f"count(DISTINCT {q})::DOUBLE AS {ident('distinct(' + c + ')')}")
            exprs.append(f"sum(hash({q}))::VARCHAR AS {ident('hash(' + c + ')')}")
    return f"SELECT {', '.join(exprs)} FROM {relation}"


def close(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, str) or isinstance(b, str):
        return a == b
    return abs(a - b) <= max(1e-6, 1e-9 * max(abs(a), abs(b)))


def compare(con, name, tonghop_files, keys, exact):
    """Checksums (and with exact, every row) of DuckDB's table against tonghop's Delta output."""
    if not tonghop_files:
        # An empty model table has no data file.
        rows = con.execute(f"SELECT count(*) FROM {name}").fetchone()[0]
        return {"ok": rows == 0, "rows": {"duckdb": rows, "tonghop": 0},
                "mismatches": [] if rows == 0 else [f"tonghop wrote no live file for models/{name}, DuckDB has {rows} rows"]}
    files = ", ".join(sql_string(f) for f in tonghop_files)
    # Partitioned Delta files keep the partition column in the folder name (hive style), so it
    # comes last from read_parquet: compare columns by name, in DuckDB's order.
    ours = [(r[0], r[1]) for r in con.execute(f"DESCRIBE {name}").fetchall()]
    con.execute(f"CREATE OR REPLACE VIEW tonghop_raw_{name} AS SELECT * FROM read_parquet([{files}], hive_partitioning = true, hive_types_autocast = false)")
    raw = [r[0] for r in con.execute(f"DESCRIBE tonghop_raw_{name}").fetchall()]
    if sorted(raw) == sorted(c for c, _ in ours):
        con.execute(f"CREATE OR REPLACE VIEW tonghop_{name} AS SELECT {', '.join(ident(c) for c, _ in ours)} FROM tonghop_raw_{name}")
    else:
        con.execute(f"CREATE OR REPLACE VIEW tonghop_{name} AS SELECT * FROM tonghop_raw_{name}")
    theirs = [(r[0], r[1]) for r in con.execute(f"DESCRIBE tonghop_{name}").fetchall()]
    mismatches = []
    if [c for c, _ in ours] != [c for c, _ in theirs]:
        mismatches.append(f"columns differ: DuckDB {[c for c, _ in ours]}, tonghop {[c for c, _ in theirs]}")
        return {"ok": False, "mismatches": mismatches}
    types = [f"{c}: DuckDB {a}, tonghop {b}" for (c, a), (_, b) in zip(ours, theirs) if canonical_type(a) != canonical_type(b)]
    a = con.execute(checksum_query(con, name, theirs, keys))
    labels = [d[0] for d in a.description]
    a = a.fetchone()
    b = con.execute(checksum_query(con, f"tonghop_{name}", theirs, keys)).fetchone()
    figures = {}
    for label, x, y in zip(labels, a, b):
        figures[label] = {"duckdb": x, "tonghop": y}
        if not close(x, y):
            mismatches.append(f"{label}: DuckDB {x}, tonghop {y}")
    out = {"ok": not mismatches, "rows": {"duckdb": a[0], "tonghop": b[0]}, "checksums": len(labels), "type_differences": types, "mismatches": mismatches}
    if exact:
        # Every row, numbers rounded to 6 decimals (the two engines sum floats in other orders).
        norm = ", ".join(f"round({ident(c)}, 6) AS {ident(c)}" if ty.upper().startswith(("DOUBLE", "FLOAT", "DECIMAL")) else f"{ident(c)}::VARCHAR AS {ident(c)}" for c, ty in theirs)
        only_duck = con.execute(f"SELECT count(*) FROM (SELECT {norm} FROM {name} EXCEPT ALL SELECT {norm} FROM tonghop_{name})").fetchone()[0]
        only_tonghop = con.execute(f"SELECT count(*) FROM (SELECT {norm} FROM tonghop_{name} EXCEPT ALL SELECT {norm} FROM {name})").fetchone()[0]
        out["rows_only_in_duckdb"], out["rows_only_in_tonghop"] = only_duck, only_tonghop
        if only_duck or only_tonghop:
            out["ok"] = False
            sample = con.execute(f"(SELECT 'duckdb' AS side, * FROM (SELECT {norm} FROM {name} EXCEPT ALL SELECT {norm} FROM tonghop_{name}) LIMIT 2) "
                                 f"UNION ALL (SELECT 'tonghop', * FROM (SELECT {norm} FROM tonghop_{name} EXCEPT ALL SELECT {norm} FROM {name}) LIMIT 2)").fetchall()
            mismatches.append(f"{only_duck} rows only in DuckDB, {only_tonghop} only in tonghop, e.g. {sample[:4]}")
    return out


# --------------------------------------------------------------------------------------------------
# The run

def tonghop_build(th: Tonghop, work: Path, full: bool):
    """Times a build; returns (seconds, peak MiB, the command run)."""
    if th.ok("build", "--help"):
        cmd = th.cmd("build", "--full") if full else th.cmd("build")
    else:
        if not full:
            sys.exit("this tonghop has no `build` command: the incremental scenario needs `tonghop build`")
        spec = work / "build_only.toml"
        spec.write_text('name = "build_only"\n\n[[steps]]\nname = "build"\nkind = "build"\n')
        cmd = th.cmd("run", str(spec))
    seconds, rss, _, _, _ = run_measured(cmd, ROOT)
    return seconds, rss, " ".join(cmd[len(th.base):])


def export_reference(th: Tonghop, names, folder: Path):
    """Exports the tables tonghop registers (not lake tables, not models) as JSON, with their types
    from information_schema.columns (CSV would lose the difference between NULL and '' and the
    types)."""
    folder.mkdir(parents=True, exist_ok=True)
    cols = th.rows("SELECT table_name, column_name, data_type FROM information_schema.columns "
                   "WHERE table_schema = 'public' ORDER BY table_name, ordinal_position")
    by_table = {}
    for r in cols:
        by_table.setdefault(r["table_name"], []).append((r["column_name"], duckdb_type(r["data_type"])))
    out = {}
    for name in sorted(names):
        if name not in by_table:
            sys.exit(f"reference table {name} is not in tonghop's information_schema")
        path = folder / f"{name}.json"
        text = th.output("sql", "--format", "json", f"SELECT * FROM {name}")
        rows = json_rows(text)
        path.write_text(json.dumps(rows, ensure_ascii=False))
        out[name] = {"file": str(path), "columns": by_table[name], "rows": len(rows)}
    return out


def lake_schema(th: Tonghop):
    cols = th.rows("SELECT table_name, column_name, data_type FROM information_schema.columns "
                   "WHERE table_schema = 'lake' ORDER BY table_name, ordinal_position")
    out = {}
    for r in cols:
        out.setdefault(r["table_name"], []).append((r["column_name"], duckdb_type(r["data_type"])))
    return out


def run_duckdb(args, plan, work: Path, tag: str):
    plan_path, result_path = work / f"duckdb_plan_{tag}.json", work / f"duckdb_result_{tag}.json"
    plan["result"] = str(result_path)
    plan_path.write_text(json.dumps(plan, indent=1))
    seconds, rss, out, err, code = run_measured([sys.executable, __file__, "--duckdb-worker", str(plan_path)], ROOT, check=False)
    if code != 0:
        sys.exit(f"the DuckDB worker failed (exit {code}):\n{out[-4000:]}\n{err[-4000:]}")
    result = json.loads(result_path.read_text())
    result["process_s"], result["process_peak_mib"] = seconds, rss
    return result


def make_plan(args, th: Tonghop, lake: Path, work: Path, models, reference, now):
    lake_cols = lake_schema(th)
    plan = {
        "threads": args.threads, "memory_limit": args.duckdb_memory, "temp_directory": str(work / "duckdb_tmp"),
        "reference": reference, "lake": {}, "models": [], "tonghop_models": {},
        "write_parquet": not args.duckdb_no_write, "parquet_dir": str(work / "duckdb_models"),
        "run_tests": not args.duckdb_no_tests, "check": not args.no_check, "exact": args.exact,
    }
    # Every lake table tonghop registers (schema `lake`), as `lake_<name>`: the sources read them.
    for name in lake_cols:
        table = lake / "tables" / name
        files, parts = delta_live_files(table) if (table / "_delta_log").is_dir() else ([], [])
        plan["lake"][name] = {"files": files, "partition_columns": parts, "columns": lake_cols[name]}
    for m in models:
        path = ROOT / m["path"] if not Path(m["path"]).is_absolute() else Path(m["path"])
        text = path.read_text(encoding="utf-8")
        header = re.search(r"^--\s*materialized:\s*(\w+)", text, re.MULTILINE)
        in_memory = header is not None and header.group(1) == "memory"
        if (header is not None and header.group(1) == "table") != m["materialized"]:
            sys.exit(f"{path}: `tonghop models` and the materialized header disagree")
        sql, applied = translate(text, now)
        if m.get("source"):
            # A source (sql/sources/) is the only kind of model that reads lake.<table>.
            sql, n = re.subn(r"\blake\.(\w+)", r"lake_\1", sql)
            applied = applied + [f"lake.<table> -> lake_<table> ({n})"] if n else applied
        tests = model_tests(path.with_suffix(".toml"), m["name"])
        keys = next((cols for label, _ in tests for cols in [re.findall(r"\w+", label[len("unique("):-1])] if label.startswith("unique(")), [])
        plan["models"].append({
            "name": m["name"], "materialized": m["materialized"], "kind": "table" if m["materialized"] or in_memory else "view",
            "reads_models": m["reads_models"], "sql": sql, "rewrites": applied, "tests": tests, "keys": keys,
        })
        if m["materialized"] and (lake / "models" / m["name"] / "_delta_log").is_dir():
            plan["tonghop_models"][m["name"]] = delta_live_files(lake / "models" / m["name"])[0]
    return plan


def time_tonghop_query(th: Tonghop, query: str, repeat: int):
    help_text = subprocess.run(th.base + ["sql", "--help"], cwd=ROOT, capture_output=True, text=True).stdout
    if "--repeat" in help_text:
        seconds, rss, out, err, _ = run_measured(th.cmd("sql", "--format", "csv", "--repeat", str(repeat), query), ROOT)
        stats = {k: float(v) * (1e-3 if unit == "ms" else 1.0) for k, v, unit in re.findall(r"(\w+)\s*[=:]\s*([\d.]+)\s*(ms|s)\b", err)}
        return {"method": f"tonghop sql --repeat {repeat} (timings from its stderr)", "process_s": seconds, "peak_mib": rss,
                "stats_s": stats, "stderr": err.strip()[-2000:], "rows": max(0, len(out.strip().splitlines()) - 1)}
    times, rows = [], 0
    for _ in range(repeat):
        seconds, _, out, _, _ = run_measured(th.cmd("sql", "--format", "csv", query), ROOT)
        times.append(seconds)
        rows = max(0, len(out.strip().splitlines()) - 1)
    return {"method": f"{repeat} whole `tonghop sql` processes (no --repeat in this binary): each also pays for the process start, "
                      "the session setup (units, catalog, Delta logs) and CSV printing", "min_s": min(times), "median_s": statistics.median(times), "rows": rows}


def time_cold_query(th: Tonghop, query: str, runs: int):
    """`runs` processes of `tonghop sql --repeat 1`, the page cache dropped before each: the first run
    of the query in each (its own timing, not the process start) is the cold figure."""
    first = []
    for _ in range(runs):
        subprocess.run(["sync"], check=True)
        try:
            Path("/proc/sys/vm/drop_caches").write_text("3\n")
        except OSError as e:
            sys.exit(f"--cold: cannot drop the page cache ({e}); run as root")
        _, _, _, err, _ = run_measured(th.cmd("sql", "--format", "csv", "--repeat", "1", query), ROOT)
        m = re.search(r"first run \(printed\): ([\d.]+) ms", err)
        if not m:
            sys.exit(f"--cold: no timing in the output of tonghop sql: {err.strip()[-500:]}")
        first.append(float(m.group(1)) / 1000)
    first.sort()
    p95 = first[round(0.95 * (len(first) - 1))]
    return {"runs": runs, "median_s": statistics.median(first), "p95_s": p95, "max_s": first[-1],
            "method": "page cache dropped before each process; the first run of the query in each"}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", default="/tmp/tonghop-rollups", help="scratch folder (its scratch/ is deleted and recreated)")
    p.add_argument("--lake", help="the lake (default <work>/lake)")
    p.add_argument("--generate", action=argparse.BooleanOptionalAction, default=False, help="create the dataset in the lake first (deletes <work>/lake)")
    p.add_argument("--generate-args", default="demo-history --months 2020-2024,202501,202502,202503,202504,202505,202506 --disaggregations 8", help="tonghop arguments that create the dataset (--lake is added)")
    p.add_argument("--binary", default=None, help="tonghop binary (default $CARGO_TARGET_DIR or target/, release/tonghop)")
    p.add_argument("--threads", type=int, default=os.cpu_count(), help="DuckDB threads (default: the machine's cores)")
    p.add_argument("--duckdb-memory", help="DuckDB memory_limit, e.g. 8GB (default: DuckDB's own)")
    p.add_argument("--duckdb-no-write", action="store_true", help="DuckDB does not write the materialised models to Parquet")
    p.add_argument("--duckdb-no-tests", action="store_true", help="DuckDB does not run the model tests")
    p.add_argument("--no-check", action="store_true", help="skip the equivalence check (and never exit 1 on a mismatch)")
    p.add_argument("--exact", action="store_true", help="also compare every row of the materialised models")
    p.add_argument("--no-pin-now", action="store_true", help="DuckDB uses its own now() instead of the tonghop build's start")
    p.add_argument("--incremental", action="store_true", help="add one month, then time `tonghop build` (incremental refresh)")
    p.add_argument("--increment-args", default="demo-history --months 202507 --disaggregations 8", help="tonghop arguments that add the month (--lake is added)")
    p.add_argument("--incremental-check", action="store_true", help="after the incremental build, check it against a DuckDB full build too")
    p.add_argument("--query", action="store_true", help="time one province's indicator_values for one year, every level below it")
    p.add_argument("--province", help="epoch:code of the province for --query (default: the first province with data)")
    p.add_argument("--year", type=int, help="year for --query (default: the latest year with data for that province)")
    p.add_argument("--repeat", type=int, default=20, help="runs of the query")
    p.add_argument("--cold", type=int, default=0, metavar="N", help="with --query: also N processes after dropping the page cache (root)")
    p.add_argument("--json", help="also write the figures to this file")
    p.add_argument("--selftest", action="store_true", help="check the translator, the Delta log reader, the equivalence check and the ratio rule, then exit")
    p.add_argument("--duckdb-worker", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.duckdb_worker:
        return duckdb_worker(args.duckdb_worker)
    if args.selftest:
        return selftest()

    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    binary = Path(args.binary) if args.binary else target / "release/tonghop"
    if not binary.exists():
        sys.exit(f"{binary} not found: run `cargo build --release -p tonghop` first (or pass --binary)")
    work = Path(args.work)
    lake = Path(args.lake) if args.lake else work / "lake"
    scratch = work / "scratch"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    th = Tonghop(binary, lake)
    results = {"machine": f"{os.cpu_count()} cores", "binary": str(binary), "lake": str(lake), "duckdb_threads": args.threads}
    import duckdb

    results["duckdb_version"] = duckdb.__version__

    has_build = th.ok("build", "--help")
    if args.incremental and not has_build:
        sys.exit(f"--incremental needs `tonghop build` (incremental refresh), which {binary} does not have")
    for wanted, cmd_args in [(args.generate, args.generate_args), (args.incremental, args.increment_args)]:
        if wanted and not th.ok(shlex.split(cmd_args)[0], "--help"):
            sys.exit(f"{binary} has no `{shlex.split(cmd_args)[0]}` command (needed for: tonghop {cmd_args})")

    if args.generate:
        if args.lake and lake.resolve() != (work / "lake").resolve():
            sys.exit("--generate writes <work>/lake: leave --lake out")
        shutil.rmtree(lake, ignore_errors=True)
        gen = shlex.split(args.generate_args)
        print(f"generating: tonghop {' '.join(gen)} ...", flush=True)
        seconds, rss, _, _, _ = run_measured(th.cmd(*gen), ROOT)
        results["generate"] = {"command": args.generate_args, "seconds": round(seconds, 2), "peak_mib": round(rss)}
    if not (lake / "tables" / "data_values" / "_delta_log").is_dir():
        sys.exit(f"{lake} holds no data_values table: pass --generate, or --lake pointing at a lake")

    # 1. tonghop full build.
    now = datetime.now(timezone.utc)
    print("tonghop full build ...", flush=True)
    seconds, rss, how = tonghop_build(th, scratch, full=True)
    results["tonghop"] = {"command": how, "seconds": round(seconds, 3), "peak_mib": round(rss)}
    print(f"  {how}: {seconds:.2f} s, peak {rss:.0f} MiB", flush=True)

    # 2. DuckDB on the same files.
    models = parse_models(th.output("models"))
    read_tables = {t for m in models for t in m["reads_tables"]}
    model_names = {m["name"] for m in models}
    reference_names = sorted(t for t in read_tables if t not in model_names and "." not in t)
    started = time.perf_counter()
    reference = export_reference(th, reference_names, scratch / "reference")
    export_s = time.perf_counter() - started
    plan = make_plan(args, th, lake, scratch, models, reference, None if args.no_pin_now else now)
    query = None
    if args.query:
        if args.province:
            epoch, code = args.province.split(":", 1)
        else:
            first = th.rows("SELECT epoch, unit_code FROM indicator_values WHERE level = 'province' AND communes_reporting > 0 ORDER BY epoch DESC, unit_code LIMIT 1")
            if not first:
                sys.exit("--query: no province has data")
            epoch, code = first[0]["epoch"], first[0]["unit_code"]
        year = args.year or int(th.rows(f"SELECT MAX(p.year) AS y FROM indicator_values v JOIN periods p ON p.period = v.period "
                                         f"WHERE v.level = 'province' AND v.epoch = '{epoch}' AND v.unit_code = '{code}' AND v.communes_reporting > 0")[0]["y"])
        query = province_query(epoch, code, year)
        plan["query"], plan["query_repeat"] = query, args.repeat
    print(f"DuckDB {duckdb.__version__} ({args.threads} threads) on the same Parquet files ...", flush=True)
    duck = run_duckdb(args, plan, scratch, "full")
    duck_total = duck["build_s"] + duck["write_s"] + duck["tests_s"]
    results["duckdb"] = {
        "reference_export_s": round(export_s, 3), "reference_load_s": round(duck["reference_load_s"], 3),
        "build_s": round(duck["build_s"], 3), "write_parquet_s": round(duck["write_s"], 3), "tests_s": round(duck["tests_s"], 3),
        "seconds": round(duck_total, 3), "peak_mib": round(duck["peak_mib"]), "peak_mib_after_build": round(duck["peak_mib_after_build"]),
        "test_failures": duck["test_failures"], "errors": duck["errors"],
    }
    results["models"] = {}
    for m in plan["models"]:
        d = duck["models"][m["name"]]
        c = duck["checks"].get(m["name"], {})
        results["models"][m["name"]] = {
            "kind": m["kind"], "materialized": m["materialized"], "rewrites": m["rewrites"],
            "duckdb_s": round(d["seconds"], 3) if "seconds" in d else None, "duckdb_rows": d.get("rows"),
            "tonghop_rows": c.get("rows", {}).get("tonghop"), "error": d.get("error"),
            "check": None if not c else ("match" if c["ok"] else "MISMATCH"), "mismatches": c.get("mismatches", []),
            "type_differences": c.get("type_differences", []),
        }
        if "rows_only_in_duckdb" in c:
            results["models"][m["name"]]["rows_only_in_duckdb"] = c["rows_only_in_duckdb"]
            results["models"][m["name"]]["rows_only_in_tonghop"] = c["rows_only_in_tonghop"]
    results["duckdb"]["not_built"] = not_built(results["models"])
    results["ratio_tonghop_over_duckdb"] = ratio_over_duckdb(seconds, duck_total, results["duckdb"]["not_built"], duck["errors"])
    if query:
        results["query"] = {"sql": query, "duckdb": duck.get("query")}
        print(f"province query ({args.repeat} runs) ...", flush=True)
        results["query"]["tonghop"] = time_tonghop_query(th, query, args.repeat)
        if args.cold:
            print(f"province query, cold ({args.cold} processes) ...", flush=True)
            results["query"]["tonghop_cold"] = time_cold_query(th, query, args.cold)

    # 3. incremental refresh.
    if args.incremental:
        inc = shlex.split(args.increment_args)
        print(f"adding a month: tonghop {' '.join(inc)} ...", flush=True)
        add_s, add_rss, _, _, _ = run_measured(th.cmd(*inc), ROOT)
        print("tonghop incremental build ...", flush=True)
        inc_now = datetime.now(timezone.utc)
        inc_s, inc_rss, how = tonghop_build(th, scratch, full=False)
        results["incremental"] = {"add_command": args.increment_args, "add_s": round(add_s, 2), "command": how,
                                  "seconds": round(inc_s, 3), "peak_mib": round(inc_rss), "percent_of_full": round(100 * inc_s / seconds, 1)}
        if args.incremental_check:
            reference = export_reference(th, reference_names, scratch / "reference2")
            plan2 = make_plan(args, th, lake, scratch, models, reference, None if args.no_pin_now else inc_now)
            plan2["query"] = None
            duck2 = run_duckdb(args, plan2, scratch, "incremental")
            results["incremental"]["check"] = {n: ("match" if c["ok"] else "MISMATCH: " + "; ".join(c["mismatches"])) for n, c in duck2["checks"].items()}

    report(results)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    failed, mismatched = problems(results, args.no_check)
    if results["duckdb"]["not_built"]:
        print(f"\nDuckDB could not build: {', '.join(results['duckdb']['not_built'])}")
    if mismatched:
        print(f"\nNOT EQUIVALENT: {', '.join(mismatched)}")
    if failed or mismatched:
        sys.exit(1)


def not_built(models):
    """The models DuckDB gave an error for instead of a table (results["models"])."""
    return [n for n, m in models.items() if m["error"]]


def ratio_over_duckdb(tonghop_s, duckdb_s, not_built, errors):
    """tonghop's full build time over DuckDB's, or None when they did not do the same work: DuckDB
    did not build every model (`not_built`: it ran out of memory, say) or could not read the lake
    (`errors`), so its time covers less than tonghop's."""
    if not_built or errors or not duckdb_s:
        return None
    return round(tonghop_s / duckdb_s, 2)


def problems(results, no_check):
    """Why the run fails (exit 1), as (what DuckDB could not do, the models whose results differ);
    the second is empty with --no-check."""
    failed = list(results["duckdb"]["not_built"])
    if results["duckdb"]["errors"]:
        failed.append("the lake tables as DuckDB reads them")
    mismatched = [n for n, m in results["models"].items() if m["check"] == "MISMATCH"]
    mismatched += [f"{n} (after the incremental build)" for n, c in results.get("incremental", {}).get("check", {}).items() if c != "match"]
    return failed, [] if no_check else mismatched


def report(results):
    t, d = results["tonghop"], results["duckdb"]
    print()
    print(f"{'':28} {'tonghop':>10} {'DuckDB':>10} {'ratio':>7}")
    ratio = results["ratio_tonghop_over_duckdb"]
    print(f"{'full build (s)':28} {t['seconds']:>10.2f} {d['seconds']:>10.2f} {f'{ratio:.2f}x' if ratio is not None else 'n/a':>7}")
    print(f"{'peak memory (MiB)':28} {t['peak_mib']:>10} {d['peak_mib']:>10}")
    print(f"  DuckDB: models {d['build_s']:.2f} s + Parquet {d['write_parquet_s']:.2f} s + tests {d['tests_s']:.2f} s; "
          f"reference tables (not counted): export {d['reference_export_s']:.2f} s, load {d['reference_load_s']:.2f} s")
    print(f"  tonghop: `{t['command']}` (process wall time: engine setup, models, Delta writes, model tests)")
    if d["test_failures"]:
        print(f"  DuckDB model tests failing: {', '.join(d['test_failures'])}")
    for e in d["errors"]:
        print(f"  DuckDB: {e}")
    if d["not_built"] or d["errors"]:
        print("  no ratio: DuckDB did not build every model (see below), so its time covers less work than tonghop's")
    print()
    print(f"{'model':22} {'kind':5} {'DuckDB s':>9} {'DuckDB rows':>12} {'tonghop rows':>13}  check")
    for name, m in results["models"].items():
        ds = f"{m['duckdb_s']:.3f}" if m["duckdb_s"] is not None else "-"
        check = m["check"] or ("ERROR" if m["error"] else "")
        rows = lambda x: f"{x:,.0f}" if x is not None else "-"
        print(f"{name:22} {m['kind']:5} {ds:>9} {rows(m['duckdb_rows']):>12} {rows(m['tonghop_rows']):>13}  {check}")
        if m["error"]:
            print(f"    {m['error']}")
        for x in m["mismatches"]:
            print(f"    mismatch: {x}")
        if m["type_differences"]:
            print(f"    types differ (values compared): {'; '.join(m['type_differences'])}")
    if "incremental" in results:
        i = results["incremental"]
        print(f"\nincremental: `{i['command']}` {i['seconds']:.2f} s ({i['percent_of_full']:.1f}% of the full build), peak {i['peak_mib']} MiB;"
              f" adding the month took {i['add_s']:.2f} s")
        for n, c in i.get("check", {}).items():
            print(f"  {n}: {c}")
    if "query" in results:
        q = results["query"]
        tq, dq = q["tonghop"], q.get("duckdb") or {}
        print(f"\nprovince query: {q['sql']}")
        if "min_s" in tq:
            print(f"  tonghop: min {tq['min_s']:.3f} s, median {tq['median_s']:.3f} s, {tq['rows']} rows ({tq['method']})")
        else:
            print(f"  tonghop: {tq['method']}: {tq['stats_s'] or tq['stderr']}; {tq['rows']} rows")
        if "tonghop_cold" in q:
            c = q["tonghop_cold"]
            print(f"  tonghop cold: median {c['median_s']:.3f} s, p95 {c['p95_s']:.3f} s, max {c['max_s']:.3f} s over {c['runs']} processes ({c['method']})")
        if dq:
            print(f"  DuckDB:  min {dq['min_s']:.4f} s, median {dq['median_s']:.4f} s, {dq['rows']} rows (in process, on its built table, into a temporary table)")


# --------------------------------------------------------------------------------------------------
# Self-test (no tonghop needed): python3 bench/rollups.py --selftest

def selftest():
    import tempfile

    sql, applied = translate("SELECT 1 FROM t WHERE {{ refresh_months(pm.month) }} AND {{refresh_periods( v.period )}}\n"
                             "AND {{ refresh_previous_year_periods(\n  concat(p.period, '}') ) }}")
    assert sql == "SELECT 1 FROM t WHERE TRUE AND TRUE\nAND TRUE", sql
    assert applied == ["macros"], applied
    sql, _ = translate("-- a comment with 1.5 and now() and {{ x }}\nSELECT x FROM t")
    assert sql == "SELECT x FROM t", sql
    sql, applied = translate("SELECT arrow_cast(CAST(w.date AS TIMESTAMP) + INTERVAL '17 hours', 'Timestamp(Microsecond, Some(\"UTC\"))') AS a, "
                             "arrow_cast(x, 'Utf8') AS b, arrow_cast(y, 'Timestamp(Microsecond, None)') AS c")
    assert sql == ("SELECT CAST(CAST(w.date AS TIMESTAMP) + INTERVAL '17 hours' AS TIMESTAMPTZ) AS a, "
                   "CAST(x AS VARCHAR) AS b, CAST(y AS TIMESTAMP) AS c"), sql
    sql, _ = translate("SELECT CASE a WHEN 's' THEN SUM(x) ELSE last_value(t.x ORDER BY t.month) END, "
                       "last_value(x) OVER (PARTITION BY k ORDER BY m), first_value(f(a, b) order by c DESC) FROM t")
    assert sql == ("SELECT CASE a WHEN 's' THEN SUM(x) ELSE last(t.x ORDER BY t.month) END, "
                   "last_value(x) OVER (PARTITION BY k ORDER BY m), first(f(a, b) order by c DESC) FROM t"), sql
    sql, _ = translate("SELECT 100.0 * a / b, 0.6745*x, 1.253314, 'v 1.0', round(x, 2), t1.c2, \"col 1.5\", 3, 1e3, 2.5e-3 FROM t1")
    assert sql == ("SELECT CAST(100.0 AS DOUBLE) * a / b, CAST(0.6745 AS DOUBLE)*x, CAST(1.253314 AS DOUBLE), 'v 1.0', round(x, 2), "
                   "t1.c2, \"col 1.5\", 3, 1e3, CAST(2.5e-3 AS DOUBLE) FROM t1"), sql
    sql, applied = translate("SELECT now() < d, 'now()', xnow() FROM t", now=datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc))
    assert sql == "SELECT TIMESTAMPTZ '2026-01-02 03:04:05.000000+00' < d, 'now()', xnow() FROM t", sql
    assert translate("SELECT now()")[0] == "SELECT now()"
    assert translate("SELECT 'it''s {{ not }} a macro? yes it is' AS s")[0] == "SELECT 'it''s TRUE a macro? yes it is' AS s"
    try:
        translate("SELECT {{ x }} }}")
        raise AssertionError("unbalanced }} accepted")
    except ValueError:
        pass
    assert duckdb_type('Timestamp(µs, "UTC")') == "TIMESTAMPTZ" and duckdb_type("Timestamp(Microsecond, None)") == "TIMESTAMP"
    assert duckdb_type("Dictionary(UInt16, Utf8)") == "VARCHAR" and duckdb_type("Date32") == "DATE"
    # Every shipped model translates.
    for path in sorted((ROOT / "sql").glob("*/*.sql")):
        translate(path.read_text(encoding="utf-8"), now=datetime.now(timezone.utc))
    # tonghop models output.
    ms = parse_models(" 1. a [view] sql/a.sql\n    grain: x\n    reads tables: t, u\n 2. b [table] sql/b.sql\n    reads models: a\n")
    assert [(m["name"], m["materialized"], m["reads_models"], m["reads_tables"]) for m in ms] == [("a", False, [], ["t", "u"]), ("b", True, ["a"], [])]

    # The ratio, the report and the exit status when DuckDB built every model, and when it did not.
    import contextlib
    import io

    assert ratio_over_duckdb(300.0, 200.0, [], []) == 1.5
    assert ratio_over_duckdb(300.0, 200.0, ["indicator_values"], []) is None
    assert ratio_over_duckdb(300.0, 200.0, [], ["cannot read data_values"]) is None
    assert ratio_over_duckdb(300.0, 0.0, [], []) is None
    model = lambda error, check: {"kind": "table", "duckdb_s": None if error else 1.0, "duckdb_rows": None if error else 5, "tonghop_rows": 5,
                                  "error": error, "check": check, "mismatches": [], "type_differences": []}
    for oom in (False, True):
        models = {"monthly_values": model(None, "match"), "indicator_values": model("Out of Memory Error" if oom else None, None if oom else "match")}
        missing = not_built(models)
        results = {"tonghop": {"command": "build --full", "seconds": 300.0, "peak_mib": 2500},
                   "duckdb": {"seconds": 200.0, "peak_mib": 20000, "build_s": 150.0, "write_parquet_s": 40.0, "tests_s": 10.0, "reference_export_s": 1.0,
                              "reference_load_s": 1.0, "test_failures": [], "errors": [], "not_built": missing},
                   "ratio_tonghop_over_duckdb": ratio_over_duckdb(300.0, 200.0, missing, []), "models": models}
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            report(results)
        full_build = next(line for line in out.getvalue().splitlines() if line.startswith("full build"))
        assert full_build.split()[-1] == ("n/a" if oom else "1.50x"), full_build
        assert ("no ratio: DuckDB did not build every model" in out.getvalue()) == oom, out.getvalue()
        assert problems(results, no_check=False) == ((["indicator_values"] if oom else []), []), problems(results, False)
    models["monthly_values"]["check"] = "MISMATCH"
    assert problems(results, no_check=False) == (["indicator_values"], ["monthly_values"])
    assert problems(results, no_check=True) == (["indicator_values"], [])
    results["duckdb"]["errors"] = ["cannot read data_values"]
    assert problems(results, no_check=True)[0] == ["indicator_values", "the lake tables as DuckDB reads them"]

    # Delta log replay: adds minus removes, URL-encoded paths, partitions, then a checkpoint.
    import duckdb

    with tempfile.TemporaryDirectory() as tmp:
        table = Path(tmp) / "t"
        log = table / "_delta_log"
        log.mkdir(parents=True)
        meta = {"metaData": {"id": "x", "partitionColumns": ["epoch", "period"], "configuration": {}}}
        add = lambda p, e="pre2025", m="202401": {"add": {"path": p, "partitionValues": {"epoch": e, "period": m}, "size": 1}}
        (log / f"{0:020d}.json").write_text("\n".join(json.dumps(a) for a in [{"protocol": {}}, meta, add("epoch=pre2025/period=202401/a.parquet"),
                                                                               add("epoch=pre2025/period=202401/b%20c.parquet")]))
        (log / f"{1:020d}.json").write_text("\n".join(json.dumps(a) for a in [{"remove": {"path": "epoch=pre2025/period=202401/a.parquet"}},
                                                                               add("epoch=post2025/period=202508/d.parquet", "post2025", "202508")]))
        files, parts = delta_live_files(table)
        assert parts == ["epoch", "period"]
        assert files == [str(table / "epoch=pre2025/period=202401/b c.parquet"), str(table / "epoch=post2025/period=202508/d.parquet")], files
        (log / f"{2:020d}.json").write_text(json.dumps(add("elsewhere/e.parquet")))
        try:
            delta_live_files(table)
            raise AssertionError("a file outside its partition folder was accepted")
        except NotImplementedError:
            pass
        # A checkpoint at version 1 (written with DuckDB), then a commit 2; commits 0 and 1 gone.
        (log / f"{0:020d}.json").unlink()
        (log / f"{1:020d}.json").unlink()
        con = duckdb.connect()
        con.execute(f"""COPY (
            SELECT NULL::STRUCT(id VARCHAR, "partitionColumns" VARCHAR[]) AS "metaData",
                   {{'path': 'epoch=pre2025/period=202401/b%20c.parquet', 'partitionValues': MAP {{'epoch': 'pre2025', 'period': '202401'}}}} AS add,
                   NULL::STRUCT(path VARCHAR) AS remove
            UNION ALL SELECT {{'id': 'x', 'partitionColumns': ['epoch', 'period']}}, NULL, NULL
        ) TO {sql_string(str(log / f'{1:020d}.checkpoint.parquet'))} (FORMAT parquet)""")
        (log / "_last_checkpoint").write_text(json.dumps({"version": 1, "size": 2}))
        (log / f"{2:020d}.json").write_text(json.dumps(add("epoch=pre2025/period=202402/f.parquet", "pre2025", "202402")))
        files, parts = delta_live_files(table)
        assert parts == ["epoch", "period"], parts
        assert files == [str(table / "epoch=pre2025/period=202401/b c.parquet"), str(table / "epoch=pre2025/period=202402/f.parquet")], files
        # A missing commit after the checkpoint fails clearly.
        (log / f"{4:020d}.json").write_text(json.dumps({"commitInfo": {}}))
        try:
            delta_live_files(table)
            raise AssertionError("a gap in the commits was accepted")
        except FileNotFoundError:
            pass
        # The equivalence check sees one changed value, string or number, and passes equal tables.
        con = duckdb.connect()
        con.execute("CREATE TABLE m AS SELECT * FROM (VALUES ('a', 1.5::DOUBLE, 10), ('b', 2.25::DOUBLE, NULL)) t(k, x, n)")
        for label, change, ok in [("same", "", True), ("number", "UPDATE m2 SET x = 1.50001 WHERE k = 'a'", False),
                                  ("string", "UPDATE m2 SET k = 'c' WHERE k = 'b'", False), ("null", "UPDATE m2 SET n = 0 WHERE k = 'b'", False)]:
            con.execute("CREATE OR REPLACE TABLE m2 AS SELECT * FROM m")
            if change:
                con.execute(change)
            out = str(Path(tmp) / f"{label}.parquet")
            con.execute(f"COPY m2 TO {sql_string(out)} (FORMAT parquet)")
            for exact in (False, True):
                got = compare(con, "m", [out], ["k"], exact)
                assert got["ok"] == ok, (label, exact, got)
    print("selftest: ok")


if __name__ == "__main__":
    main()
