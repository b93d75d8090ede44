#!/usr/bin/env python3
"""Turns one single-point call that ETS sent to PostgreSQL (a server log written with
`log_statement = all`) into pgbench scripts that replay its statements (bench/pg/ceiling.sh).

    capture_call.py SERVER_LOG OUT_DIR

The call taken is the last transaction that appends to a cached series in one round trip
(`store/postgres/appends.rs`: BEGIN, the run row's update, the cached-series check, the tail
chunk's rewrite, the series' aggregates, the audit chain's lock, the audit record, COMMIT).
Parameters are written in as literals. The check is rewritten to expect the state the call
itself leaves (the series' point count and last step, the tail's point count), so the call can
be replayed any number of times on the same rows. Writes OUT_DIR/{full,noaudit,nochunk,min,
select1}.sql (each call one pipeline) and OUT_DIR/once.sql (the statements one by one, to check
the replay before timing it).
"""

import re
import sys

EXECUTE = re.compile(r"\[(\d+)\] LOG:  (?:execute [^:]+|statement): (.*)$")
DETAIL = re.compile(r"\[(\d+)\] DETAIL:  parameters: (.*)$")
PARAM = re.compile(r"\$(\d+) = ('(?:[^']|'')*'|NULL)")


def transactions(lines):
    """Each backend's statements with their parameters, grouped from BEGIN to COMMIT."""
    open_by_pid, done = {}, []
    for line in lines:
        m = EXECUTE.search(line)
        if m:
            pid, sql = m.group(1), m.group(2)
            if sql == "BEGIN":
                open_by_pid[pid] = []
            if pid in open_by_pid:
                open_by_pid[pid].append([sql, {}])
                if sql == "COMMIT":
                    done.append(open_by_pid.pop(pid))
            continue
        m = DETAIL.search(line)
        if m and m.group(1) in open_by_pid and open_by_pid[m.group(1)]:
            params = {int(k): v for k, v in PARAM.findall(m.group(2))}
            open_by_pid[m.group(1)][-1][1] = params
    return done


def literal(sql, params):
    for k in sorted(params, reverse=True):
        sql = sql.replace("$%d" % k, params[k])
    return sql.rstrip(";") + ";"


def main():
    log, out = sys.argv[1], sys.argv[2]
    with open(log, encoding="utf-8", errors="replace") as f:
        lines = f.read().splitlines()

    def kind(sql):
        for name, mark in [
            ("check", "as cached"),
            ("chunk", "UPDATE metric_chunks"),
            ("series", "UPDATE metric_series"),
            ("lock", "pg_advisory_xact_lock"),
            ("audit", "INSERT INTO audit_log"),
            ("run", "UPDATE runs SET updated_at"),
        ]:
            if mark in sql:
                return name
        return sql

    calls = [
        t for t in transactions(lines)
        if [kind(s) for s, _ in t] == ["BEGIN", "run", "check", "chunk", "series", "lock", "audit", "COMMIT"]
    ]
    if not calls:
        sys.exit("no one-round-trip single-point call found in " + log)
    call = calls[-1]
    by_kind = {kind(s): p for s, p in call}
    check, series, chunk = by_kind["check"], by_kind["series"], by_kind["chunk"]
    # The check's point counts, last steps and tail sizes: what the call leaves.
    check[3], check[4], check[6] = series[2], series[5], chunk[3]
    statements = {kind(s): literal(s, p) for s, p in call}
    order = ["BEGIN", "run", "check", "chunk", "series", "lock", "audit", "COMMIT"]

    def write(name, kinds):
        body = "\n".join(statements[k] for k in kinds)
        with open(f"{out}/{name}.sql", "w") as f:
            f.write("\\startpipeline\n" + body + "\n\\endpipeline\n")

    write("full", order)
    write("noaudit", [k for k in order if k not in ("lock", "audit")])
    write("nochunk", [k for k in order if k != "chunk"])
    write("min", ["BEGIN", "run", "COMMIT"])
    with open(f"{out}/select1.sql", "w") as f:
        f.write("SELECT 1;\n")
    with open(f"{out}/once.sql", "w") as f:
        f.write("\n".join(statements[k] for k in order) + "\n")


if __name__ == "__main__":
    main()
