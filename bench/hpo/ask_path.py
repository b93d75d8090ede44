"""Ask/tell latency of an ETS study whose sampler costs next to nothing (issue 16).

Driven by ask_path.sh, once per ETS binary. With the `random` sampler an ask is everything
but sampling: HTTP, JSON, authorization, the study's history read, the run and trial write
and its audit records. The study is brought to --trials completed trials by asking and
telling through the native API from --threads threads (not timed), then --cycles sequential
ask + tell cycles over one keep-alive connection are timed as speed.py times them, with
the CPU of the ETS server and of PostgreSQL per cycle (`/proc`).

Writes one JSON object to --out and a progress log to stderr.
"""

import argparse
import json
import threading
import time

from speed import CpuMeter, Ets, ets_cycle, ets_measure, ets_setup, in_threads, log


def prefill(url, study_id, n, threads):
    """n ask + tell cycles from several threads, each over a connection of its own."""
    counter, lock = [0], threading.Lock()

    def work(_):
        ets = Ets(url)
        while True:
            with lock:
                if counter[0] >= n:
                    return
                counter[0] += 1
            ets_cycle(ets, study_id)

    in_threads(work, range(threads))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ets-url", required=True)
    ap.add_argument("--ets-pid", type=int, help="ETS server pid, for its CPU time")
    ap.add_argument("--pg-pid", type=int, help="postmaster pid, for the database's CPU time")
    ap.add_argument("--sampler", default="random", help="the study's sampler (random, tpe)")
    ap.add_argument("--trials", type=int, default=10000, help="completed trials before timing")
    ap.add_argument("--cycles", type=int, default=300, help="timed ask + tell cycles")
    ap.add_argument("--threads", type=int, default=2, help="threads of the prefill")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--label", default="ets")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    ets = Ets(args.ets_url)
    study_id = ets_setup(ets, f"ask-path-{int(time.time())}", args.seed, args.sampler)
    t0 = time.perf_counter()
    prefill(args.ets_url, study_id, args.trials, args.threads)
    fill = time.perf_counter() - t0
    ets.reconnect()
    view, _ = ets.call("GET", f"/api/v1/studies/{study_id}")
    assert view["counts"]["complete"] == args.trials, view["counts"]
    log(f"{args.label}: {args.trials} trials asked and told in {fill:.1f} s ({args.threads} threads)")

    result = {
        "label": args.label,
        "sampler": args.sampler,
        "completed_trials": args.trials,
        "prefill_seconds": fill,
        **ets_measure(ets, study_id, args.cycles, CpuMeter(args.ets_pid, args.pg_pid)),
    }
    log(
        f"{args.label}: {args.cycles} cycles at {args.trials} trials: ask p50 "
        f"{result['ask']['p50_ms']:.2f} ms (server {result.get('ask_server_p50_ms', 0):.2f}), "
        f"tell p50 {result['tell']['p50_ms']:.2f} ms (server {result.get('tell_server_p50_ms', 0):.2f})"
    )
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
