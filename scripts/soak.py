#!/usr/bin/env python3
"""A long run of real `gossipnode run` processes on 127.0.0.1 through the chaos proxy, with faults
scheduled by round, sampling each node's memory and open descriptors as it goes.

Starts the proxy (base faults from --faults), N nodes (logreg on the committed subset, groups of
--group, --steps local steps), then applies --at actions when the most advanced node reports a round:
  partition:SIDES@FROM-TO      the proxy separates SIDES (e.g. 0-3|4-7, 0-based) from round FROM to TO;
                               with '>' (0-3>4-7) it cuts one way: 0-3's datagrams lost, 4-7's delivered
  stop:NODE@ROUND:SECONDS[xCOUNT/EVERY]   SIGSTOP node NODE (1-based) for SECONDS, COUNT times, EVERY rounds apart
  restart:NODE@ROUND:DOWN[xCOUNT/EVERY]   SIGKILL node NODE, restart it DOWN seconds later, COUNT times
Every --sample seconds it records VmRSS and the number of entries in /proc/PID/fd of each node.
When all nodes have exited (or --timeout passed: the rest are killed and reported stuck) it writes
DIR/samples.jsonl and DIR/events.jsonl and prints one JSON line: per node its exit code, stop
reason and last round, its RSS and fd counts (first sample after round 10, last, largest), failed
rounds, the largest validation loss after the last fault ended compared with the one before it,
and overall: the spread of stop rounds, nodes stuck.
  scripts/soak.py --dir runs/soak/a --nodes 8 --rounds 300 --faults '--loss 0.02 --duplicate 0.02 --reorder 0.02'
  scripts/soak.py --dir runs/soak/b --rounds 80 --node-flags '--tolerance 0.05 --patience 2' --at 'partition:0-3|4-7@10-40'
Environment: GOSSIPNODE_BIN (default: the release build, built by scripts/lib.sh's build_release)."""
import argparse, json, os, shlex, shutil, signal, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("GOSSIPNODE_BIN") or subprocess.run(
    ["bash", "-c", f"source {ROOT}/scripts/lib.sh && build_release"], check=True, capture_output=True, text=True).stdout.strip()

ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("--dir", required=True)
ap.add_argument("--nodes", type=int, default=8)
ap.add_argument("--group", type=int, default=4)
ap.add_argument("--rounds", type=int, default=300)
ap.add_argument("--steps", type=int, default=5)
ap.add_argument("--port", type=int, default=7900)
ap.add_argument("--offset", type=int, default=1000, help="the proxy's port offset")
ap.add_argument("--faults", default="", help="the proxy's base faults, e.g. '--loss 0.02'")
ap.add_argument("--node-flags", default="", help="more flags for every node")
ap.add_argument("--phase-timeout", default="1.5")
ap.add_argument("--join-timeout", default="6")
ap.add_argument("--at", action="append", default=[], help="a scheduled action (see above); repeatable")
ap.add_argument("--sample", type=float, default=2.0)
ap.add_argument("--timeout", type=float, default=900)
ap.add_argument("--seed", type=int, default=1)
ap.add_argument("--wrap", default="", help="NODE:COMMAND runs node NODE under COMMAND (e.g. '1:heaptrack -o DIR/ht')")
a = ap.parse_args()

d = os.path.abspath(a.dir)
shutil.rmtree(d, ignore_errors=True)
os.makedirs(d)
subprocess.run([f"{ROOT}/scripts/make-peers.sh", "-n", str(a.nodes), "-p", str(a.port), "-o", f"{d}/real-peers.txt",
                "-k", f"{d}/keys", "-b", BIN], check=True, stderr=subprocess.DEVNULL)
control = f"{d}/control"
open(control, "w").close()
proxy = subprocess.Popen([BIN, "chaos", "--peers", f"{d}/real-peers.txt", "--proxied-peers", f"{d}/proxied-peers.txt",
                          "--port-offset", str(a.offset), "--seed", str(a.seed), "--control", control, "--json",
                          "--report-every", "5"] + shlex.split(a.faults),
                         stdout=open(f"{d}/chaos.jsonl", "w"), stderr=open(f"{d}/chaos.log", "w"))
for _ in range(200):
    if os.path.exists(f"{d}/proxied-peers.txt") and os.path.getsize(f"{d}/proxied-peers.txt") > 0: break
    time.sleep(0.05)
else:
    sys.exit("the chaos proxy did not start (see chaos.log)")

flags = ["--model", "logreg", "--rounds", str(a.rounds), "--local-steps", str(a.steps), "--batch-size", "32",
         "--group-size", str(a.group), "--threads", "1", "--seed", "1", "--eval-every", "5",
         "--data", f"fashion-mnist:{ROOT}/data/fashion-mnist-subset",
         "--phase-timeout", a.phase_timeout, "--join-timeout", a.join_timeout] + shlex.split(a.node_flags)
procs, frozen = {}, set()
t0 = time.time()
events = open(f"{d}/events.jsonl", "w")
def event(kind, **kw):
    events.write(json.dumps({"event": kind, "t": round(time.time() - t0, 3), "round": network_round(), **kw}) + "\n"); events.flush()

def start(i):
    port = a.port + i - 1
    cmd = [BIN, "run", "--peers", f"{d}/proxied-peers.txt", "--listen", f"127.0.0.1:{port}", "--id", f"node{i}",
           "--key", f"{d}/keys/node{i}.key", "--state", f"{d}/state/node{i}", "--json"] + flags
    if a.wrap and a.wrap.split(":", 1)[0] == str(i): cmd = shlex.split(a.wrap.split(":", 1)[1]) + cmd
    procs[i] = subprocess.Popen(cmd, stdout=open(f"{d}/node{i}.jsonl", "a"), stderr=open(f"{d}/node{i}.log", "a"))

offsets = {}
last_rounds = {}
def reports(i):
    """New JSON lines of node i (read incrementally)."""
    out = []
    try:
        with open(f"{d}/node{i}.jsonl") as f:
            f.seek(offsets.get(i, 0))
            while True:
                pos = f.tell(); line = f.readline()
                if not line.endswith("\n"): f.seek(pos); break
                try: out.append(json.loads(line))
                except ValueError: pass
            offsets[i] = f.tell()
    except FileNotFoundError:
        pass
    return out

lines = {i: [] for i in range(1, a.nodes + 1)}
def poll():
    for i in lines:
        for j in reports(i):
            lines[i].append(j)
            if j.get("event") == "round": last_rounds[i] = j["round"]
def network_round(): return max(last_rounds.values(), default=0)

def parse_nodes(text):
    out = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        out += list(range(int(lo), int(hi or lo) + 1))
    return out

# Scheduled actions: (round, callable) kept sorted; repeated ones reschedule themselves.
pending = []
fault_windows = []  # (from, to) rounds during which a network fault held
def base_faults(): return a.faults.strip()
active_faults = {}
def write_control():
    text = " ".join([base_faults()] + list(active_faults.values())).strip()
    with open(control, "w") as f: f.write(text + ("\n" if text else ""))
    if not text: open(control, "w").close()

def schedule(spec):
    kind, _, rest = spec.partition(":")
    if kind == "partition":
        what, _, rounds = rest.rpartition("@")
        lo, hi = map(int, rounds.split("-"))
        def on(): active_faults[spec] = f"--partition {what}"; write_control(); event(kind, what=what)
        def off(): active_faults.pop(spec, None); write_control(); event("heal", what=what)
        pending.append((lo, on)); pending.append((hi, off)); fault_windows.append((lo, hi))
    elif kind in ("stop", "restart"):
        node, _, rest = rest.partition("@")
        node = int(node)
        when, _, rest = rest.partition(":")
        seconds, _, rep = rest.partition("x")
        count, every = (1, 0)
        if rep: count, every = map(int, rep.split("/"))
        seconds = float(seconds)
        def act(n, r):
            if procs[node].poll() is not None: return
            # The next repetition counts its rounds from the end of this one (the node frozen or down).
            def again():
                if n + 1 < count:
                    nxt = network_round() + every
                    pending.append((nxt, lambda: act(n + 1, nxt)))
            if kind == "stop":
                procs[node].send_signal(signal.SIGSTOP); frozen.add(node); event("stop", node=node, seconds=seconds)
                pending.append((-(time.time() + seconds), lambda: (procs[node].send_signal(signal.SIGCONT), frozen.discard(node),
                                                                   event("cont", node=node), again())))
            else:
                procs[node].send_signal(signal.SIGKILL); procs[node].wait(); event("kill", node=node)
                pending.append((-(time.time() + seconds), lambda: (start(node), event("restart", node=node), again())))
            fault_windows.append((r, network_round() + 5))
        pending.append((int(when), lambda: act(0, int(when))))
    else:
        sys.exit(f"unknown action {spec}")

for spec in a.at: schedule(spec)
for i in range(1, a.nodes + 1): start(i)

samples = open(f"{d}/samples.jsonl", "w")
mem = {i: [] for i in lines}
def sample():
    for i, p in procs.items():
        if p.poll() is not None or i in frozen: continue
        try:
            rss = next(int(l.split()[1]) for l in open(f"/proc/{p.pid}/status") if l.startswith("VmRSS:"))
            fds = len(os.listdir(f"/proc/{p.pid}/fd"))
            threads = next(int(l.split()[1]) for l in open(f"/proc/{p.pid}/status") if l.startswith("Threads:"))
            heap, region, regions = 0, "", 0
            for l in open(f"/proc/{p.pid}/smaps"):
                if not l[0].isupper(): region = l.split()[5] if len(l.split()) > 5 else ""; regions += 1
                elif l.startswith("Rss:") and region == "[heap]": heap += int(l.split()[1])
        except (OSError, StopIteration):
            continue
        rec = {"t": round(time.time() - t0, 1), "node": i, "pid": p.pid, "round": last_rounds.get(i, 0), "rss_kb": rss, "heap_kb": heap, "fds": fds, "threads": threads, "maps": regions}
        mem[i].append(rec); samples.write(json.dumps(rec) + "\n"); samples.flush()

deadline = t0 + a.timeout
next_sample = 0
stuck = []
while True:
    poll()
    now = time.time()
    due = [x for x in pending if (x[0] >= 0 and network_round() >= x[0]) or (x[0] < 0 and now >= -x[0])]
    for x in due:
        pending.remove(x); x[1]()
    if now >= next_sample: sample(); next_sample = now + a.sample
    alive = [i for i, p in procs.items() if p.poll() is None]
    if not alive and not [x for x in pending if x[0] < 0]: break
    if now > deadline:
        for i in alive:
            procs[i].send_signal(signal.SIGCONT); procs[i].kill(); stuck.append(i)
        event("timeout", stuck=stuck)
        break
    time.sleep(0.02)
poll()
proxy.send_signal(signal.SIGTERM)
try: proxy.wait(timeout=5)
except subprocess.TimeoutExpired: proxy.kill()

def summary_of(i):
    s = [j for j in lines[i] if j.get("event") == "summary"]
    return s[-1] if s else None
fault_end = max((hi for _, hi in fault_windows), default=0)
fault_start = min((lo for lo, _ in fault_windows), default=0)
nodes = {}
for i in lines:
    rounds = [j for j in lines[i] if j.get("event") == "round"]
    s = summary_of(i)
    ms = [m for m in mem[i] if m["round"] >= 10] or mem[i]
    before = [j["validation_loss"] for j in rounds if fault_windows and j["round"] < fault_start and j.get("validation_loss")]
    after = [j["validation_loss"] for j in rounds if fault_windows and j["round"] > fault_end + 3 and j.get("validation_loss")]
    nodes[f"node{i}"] = {
        "exit": procs[i].returncode, "reason": s and s["reason"], "last_round": rounds[-1]["round"] if rounds else None,
        "failed_rounds": sum(1 for j in rounds if j.get("failure")),
        "rss_kb": [ms[0]["rss_kb"], ms[-1]["rss_kb"], max(m["rss_kb"] for m in ms)] if ms else None,
        "fds": [ms[0]["fds"], ms[-1]["fds"], max(m["fds"] for m in ms)] if ms else None,
        "val_loss_before_after": [min(before) if before else None, max(after) if after else None],
        "starts": sum(1 for j in lines[i] if j.get("event") == "start"),
    }
stops = [n["last_round"] for n in nodes.values() if n["last_round"] is not None]
print(json.dumps({"bench": "soak", "dir": d, "actions": a.at, "faults": a.faults, "seconds": round(time.time() - t0, 1),
                  "stop_rounds": sorted(set(stops)), "stop_spread": (max(stops) - min(stops)) if stops else None,
                  "stuck": [f"node{i}" for i in stuck], "nonzero_exits": [k for k, n in nodes.items() if n["exit"] != 0],
                  "nodes": nodes}, separators=(",", ":")))
