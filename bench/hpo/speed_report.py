"""Markdown tables of speed.py's JSON results (one file per backend); speed.sh prints them.

    python bench/hpo/speed_report.py sqlite.json postgres.json
"""

import argparse
import json
import os


def ms(v):
    return f"{v:.2f}" if v < 100 else f"{v:.0f}"


def ratio(v):
    return f"{v:.1f}×" if v < 10 else f"{v:.0f}×"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("results", nargs="+", help="speed.py --out files")
    ap.add_argument("--seconds", type=int, help="wall time of the whole run")
    ap.add_argument("--load", nargs=2, metavar=("BEFORE", "AFTER"), help="load averages")
    args = ap.parse_args()
    rows = []
    for path in args.results:
        with open(path) as f:
            rows.append(json.load(f))

    print(
        "| backend | completed trials | ETS ask p50 / p99 (ms) | ETS tell p50 / p99 (ms) "
        "| Optuna ask p50 / p99 (ms) | Optuna tell p50 / p99 (ms) | ask p50 Optuna / ETS "
        "| cycles ETS / Optuna |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        for c in r["checkpoints"]:
            e, o = c["ets"], c["optuna"]
            print(
                f"| {r['backend']} | {c['completed_trials']:,} "
                f"| {ms(e['ask']['p50_ms'])} / {ms(e['ask']['p99_ms'])} "
                f"| {ms(e['tell']['p50_ms'])} / {ms(e['tell']['p99_ms'])} "
                f"| {ms(o['ask']['p50_ms'])} / {ms(o['ask']['p99_ms'])} "
                f"| {ms(o['tell']['p50_ms'])} / {ms(o['tell']['p99_ms'])} "
                f"| {ratio(c['ask_p50_ratio'])} | {e['ask']['n']} / {o['ask']['n']} |"
            )
    print()
    print(
        "ETS's own time (`x-process-time`, p50) and CPU per ask + tell cycle, in ms: the ETS "
        "server process; the database server (PostgreSQL's processes; SQLite runs inside the "
        "ETS server and inside the Optuna client); the client process (for Optuna, where TPE "
        "samples). Prefill: seconds to add the trials before the checkpoint."
    )
    print()
    print(
        "| backend | completed trials | ETS ask / tell server p50 | CPU: ETS server | DB for ETS "
        "| ETS client | DB for Optuna | Optuna client | prefill ETS / Optuna (s) |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        for c in r["checkpoints"]:
            e, o, p = c["ets"], c["optuna"], c["prefill_seconds"]

            def db(x):
                v = x.get("db_server_cpu_ms_per_cycle")
                return "–" if v is None else ms(v)

            server = (
                f"{ms(e['ask_server_p50_ms'])} / {ms(e['tell_server_p50_ms'])}"
                if "ask_server_p50_ms" in e
                else "–"
            )
            cpu = e.get("ets_server_cpu_ms_per_cycle")
            print(
                f"| {r['backend']} | {c['completed_trials']:,} | {server} "
                f"| {'–' if cpu is None else ms(cpu)} | {db(e)} | {ms(e['client_cpu_ms_per_cycle'])} "
                f"| {db(o)} | {ms(o['client_cpu_ms_per_cycle'])} "
                f"| {p['ets_grpc_add_trials']:.0f} / {p['optuna_bulk_insert']:.0f} |"
            )
    optimize = [r for r in rows if "optimize" in r]
    if optimize:
        print()
        print(
            "An unchanged Optuna script (`study.optimize`, TPESampler, fresh study): wall time "
            "per trial through ETS's gRPC storage and through Optuna's RDB storage, same database."
        )
        print()
        print("| backend | trials | ETS gRPC storage (ms a trial) | Optuna RDB storage (ms a trial) | RDB / gRPC |")
        print("| --- | ---: | ---: | ---: | ---: |")
        for r in optimize:
            o = r["optimize"]
            print(
                f"| {r['backend']} | {o['trials']} | {ms(o['ets_grpc_ms'])} | {ms(o['optuna_rdb_ms'])} "
                f"| {ratio(o['optuna_rdb_ms'] / o['ets_grpc_ms'])} |"
            )
    print()
    line = f"Optuna {rows[0]['optuna_version']}; {os.cpu_count()} cores"
    if args.seconds is not None:
        line += f"; whole run {args.seconds} s"
    if args.load:
        line += f" (load average {args.load[0]} before, {args.load[1]} after)"
    print(line + ".")


if __name__ == "__main__":
    main()
