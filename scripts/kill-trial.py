#!/usr/bin/env python3
"""One kill/restart trial against real processes: starts N `gossipnode run` nodes on 127.0.0.1
(logreg on the committed subset, groups of --group), SIGKILLs node --victim --delay seconds after
its --kill-after-round-th round line, restarts it with the same command after --down seconds, waits
for every node to stop, and leaves the nodes' JSON lines and events.json in --dir for
scripts/kill-trial-check.py. --victim-steps gives the victim fewer local steps, so it finishes
training first and waits in the advertise phase: a kill ~30 ms after its round line lands after it
advertised (SPEC §7.1, one incarnation per round):
  scripts/kill-trial.py --dir runs/kill/a --victim 3 --kill-after-round 7 --delay 0.03 --down 0.3 \
      --steps 200 --victim-steps 5 --rounds 40 && scripts/kill-trial-check.py runs/kill/a
Environment: GOSSIPNODE_BIN (default: the release build, built by scripts/lib.sh's build_release)."""
import json, os, random, signal, subprocess, sys, time, shutil, argparse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("GOSSIPNODE_BIN") or subprocess.run(
    ["bash", "-c", f"source {ROOT}/scripts/lib.sh && build_release"], check=True, capture_output=True, text=True).stdout.strip()

ap = argparse.ArgumentParser()
ap.add_argument("--dir", required=True)
ap.add_argument("--nodes", type=int, default=8)
ap.add_argument("--group", type=int, default=4)
ap.add_argument("--rounds", type=int, default=30)
ap.add_argument("--port", type=int, default=7600)
ap.add_argument("--victim", type=int, default=3)
ap.add_argument("--kill-after-round", type=int, default=5, help="kill once victim reported this round")
ap.add_argument("--delay", type=float, default=0.0, help="seconds after that round line")
ap.add_argument("--down", type=float, default=1.0)
ap.add_argument("--dp", action="store_true")
ap.add_argument("--steps", type=int, default=20)
ap.add_argument("--extra", default="")
ap.add_argument("--victim-steps", type=int, default=0)
a = ap.parse_args()

d = a.dir
shutil.rmtree(d, ignore_errors=True)
os.makedirs(d)
subprocess.run([f"{ROOT}/scripts/make-peers.sh", "-n", str(a.nodes), "-p", str(a.port), "-o", f"{d}/peers.txt",
                "-k", f"{d}/keys", "-b", BIN], check=True, stderr=subprocess.DEVNULL)
flags = ["--model", "logreg", "--rounds", str(a.rounds), "--patience", "32", "--local-steps", str(a.steps),
         "--batch-size", "32", "--lr-schedule", "cosine", "--group-size", str(a.group), "--threads", "1",
         "--seed", "1", "--data", f"fashion-mnist:{ROOT}/data/fashion-mnist-subset",
         "--phase-timeout", "1.5", "--join-timeout", "6"]
if a.dp:
    flags += ["--dp", "--noise-multiplier", "1.1", "--clip-norm", "1"]
flags += a.extra.split()
procs = {}
events = []
def start(i):
    cmd = [BIN, "run", "--peers", f"{d}/peers.txt", "--id", f"node{i}", "--key", f"{d}/keys/node{i}.key",
           "--state", f"{d}/state/node{i}", "--json", "--log-level", "debug"] + flags
    if i == a.victim and a.victim_steps:
        j = cmd.index("--local-steps"); cmd[j + 1] = str(a.victim_steps)
    out = open(f"{d}/node{i}.jsonl", "a"); err = open(f"{d}/node{i}.log", "a")
    procs[i] = subprocess.Popen(cmd, stdout=out, stderr=err)

def rounds(i):
    out = []
    try:
        with open(f"{d}/node{i}.jsonl") as f:
            for line in f:
                if line.startswith("{"):
                    try:
                        j = json.loads(line)
                    except Exception:
                        continue
                    if j.get("event") == "round": out.append(j)
    except FileNotFoundError:
        pass
    return out

t0 = time.time()
for i in range(1, a.nodes + 1): start(i)
v = a.victim
deadline = time.time() + 120
while len(rounds(v)) < a.kill_after_round and time.time() < deadline and procs[v].poll() is None:
    time.sleep(0.002)
seen = time.time()
time.sleep(a.delay)
before = rounds(v)
procs[v].send_signal(signal.SIGKILL); procs[v].wait()
killed = time.time()
ledger = subprocess.run([BIN, "privacy", "--state", f"{d}/state/node{v}", "--json"], capture_output=True, text=True).stdout.strip()
events.append({"event": "kill", "unix": killed, "t": killed - t0, "after_line_s": killed - seen, "last_round": before[-1]["round"] if before else None,
               "last_report": before[-1] if before else None, "ledger": json.loads(ledger) if ledger else {},
               "others_at": max((r["round"] for r in rounds(1 if v != 1 else 2)), default=0)})
time.sleep(a.down)
start(v)
events.append({"event": "restart", "unix": time.time(), "t": time.time() - t0, "others_at": max((r["round"] for r in rounds(1 if v != 1 else 2)), default=0)})
codes = {}
end = time.time() + 180
for i, p in procs.items():
    try:
        codes[i] = p.wait(timeout=max(1, end - time.time()))
    except subprocess.TimeoutExpired:
        p.kill(); codes[i] = "timeout"
events.append({"event": "exits", "codes": codes, "t": time.time() - t0})
ledger = subprocess.run([BIN, "privacy", "--state", f"{d}/state/node{v}", "--json"], capture_output=True, text=True).stdout.strip()
events.append({"event": "final_ledger", "ledger": json.loads(ledger) if ledger else {}})
with open(f"{d}/events.json", "w") as f: json.dump({"args": vars(a), "events": events}, f, indent=1)
