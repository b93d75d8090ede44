"""Writes the symbol-ordering file that packs ETS's start-up code together
(`crates/ets/startup-order.txt`; `crates/ets/build.rs` passes it to the linker).

    python3 bench/compare/startup_order.py target/release/ets > crates/ets/startup-order.txt

Runs `ets serve` under callgrind (a fresh data dir, a loopback port) until `/health` answers,
and prints the mangled names of every function of the binary that ran, sorted. The linker
(LLD, Rust's default on x86_64 Linux) places them side by side: start-up then faults in a few
dozen 64 KiB windows of the code segment instead of ~240, and RSS after start-up follows
(docs/benchmarks.md, issue 18, "Start-up code packed together"). A name the binary no longer
has is skipped by the linker; rerun this after large changes to start-up. Needs valgrind.
"""
import os, re, shutil, signal, socket, subprocess, sys, tempfile, time, urllib.request

binary = os.path.abspath(sys.argv[1])
work = tempfile.mkdtemp()
s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
out = os.path.join(work, "callgrind.out")
env = {k: v for k, v in os.environ.items() if not k.startswith("ETS_")}
server = subprocess.Popen(
    ["valgrind", "--tool=callgrind", "--demangle=no", f"--callgrind-out-file={out}", binary,
     "serve", "--host", "127.0.0.1", "--port", str(port), "--metrics-port", "0",
     "--data-dir", os.path.join(work, "data")],
    env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
try:
    for _ in range(1200):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1).read()
            break
        except OSError:
            time.sleep(0.1)
    else:
        sys.exit("ets did not answer /health under callgrind")
finally:
    server.send_signal(signal.SIGINT)
    server.wait(timeout=120)

# Callgrind names objects and functions once, by number, on `ob=`/`cob=` and `fn=`/`cfn=`
# lines; a function ran if a `fn=` line gives it costs while its object is the binary.
line_re = re.compile(r"^(c?ob|c?fn)=\((\d+)\)(?: (.*))?$")
objects, functions, current, ran = {}, {}, None, set()
with open(out, errors="replace") as f:
    for line in f:
        m = line_re.match(line.rstrip("\n"))
        if not m:
            continue
        kind, number, name = m.groups()
        if kind in ("ob", "cob"):
            if name:
                objects[number] = name
            if kind == "ob":
                current = objects.get(number)
        else:
            if name:
                functions[number] = name
            if kind == "fn" and current and os.path.realpath(current) == os.path.realpath(binary):
                ran.add(functions.get(number))
shutil.rmtree(work, ignore_errors=True)
names = sorted(n for n in ran if n and not n.startswith(("0x", "(")))
if len(names) < 100:
    sys.exit(f"only {len(names)} functions ran: is {binary} the binary that was profiled?")
print("\n".join(names))
print(f"{len(names)} functions", file=sys.stderr)
