#!/usr/bin/env python3
"""Checks the run directories of scripts/kill-trial.py: every node finished, stop spread at most one,
the victim resumed after its checkpoint (with ε not lower under --dp), survivors failed only rounds
§15 allows (the victim's groups in the kill and restart rounds; none at all with
--no-survivor-failures), how many rounds the victim lost and how long it took to rejoin. One JSON
line per directory; exit 1 if any has an anomaly.
Usage: scripts/kill-trial-check.py [--no-survivor-failures] DIR..."""
import json, sys, os

def lines(p):
    out = []
    for l in open(p):
        if l.startswith("{"):
            try: out.append(json.loads(l))
            except Exception: pass
    return out

def analyze(d, strict=False):
    ev = json.load(open(f"{d}/events.json"))
    args, events = ev["args"], ev["events"]
    n = args["nodes"]; v = f"node{args['victim']}"
    L = {f"node{i}": lines(f"{d}/node{i}.jsonl") for i in range(1, n + 1)}
    R = {k: [l for l in x if l["event"] == "round"] for k, x in L.items()}
    S = {k: next((l for l in reversed(x) if l["event"] == "summary"), None) for k, x in L.items()}
    kill = next(e for e in events if e["event"] == "kill")
    restart = next(e for e in events if e["event"] == "restart")
    exits = next(e for e in events if e["event"] == "exits")["codes"]
    anomalies = []
    bad = [k for k in L if S[k] is None or str(S[k].get("reason", "")).startswith("failed") or exits.get(k[4:]) != 0]
    if bad: anomalies.append(f"not finished: {bad} exits={exits}")
    last = [S[k]["rounds"] for k in L if S[k]]
    spread = max(last) - min(last) if last else None
    if spread is None or spread > 1: anomalies.append(f"stop spread {last}")
    starts = [l for l in L[v] if l["event"] == "start"]
    resumed = starts[-1].get("resumed_after_round") if len(starts) >= 2 else None
    before = kill["last_round"] or 0
    if resumed is None or resumed < before: anomalies.append(f"resumed {resumed} < {before}")
    kill_round = (resumed or before) + 1  # the round in progress at the kill
    # the rounds reported by the restarted process: those after the restart's start line
    pos = [i for i, l in enumerate(L[v]) if l["event"] == "start"]
    after = [l for l in L[v][pos[-1]:] if l["event"] == "round"] if len(pos) >= 2 else []
    first = after[0] if after else None
    first_ok = next((r for r in after if not r["failure"]), None)
    # group of victim in kill round from survivors' reports
    def group_of(node, rnd):
        for r in R[node]:
            if r["round"] == rnd: return r["group"]
        return None
    gk = next((group_of(k, kill_round) for k in L if k != v and group_of(k, kill_round) and v in group_of(k, kill_round)), [])
    restart_round = first["round"] if first else None
    gr = group_of(v, restart_round) if restart_round else []
    allowed = {(k, kill_round) for k in gk} | {(k, restart_round) for k in (gr or [])}
    # rounds between: victim's groups in any round it did not take part
    fails = [(k, r["round"], (r["failure"] or "")[:90], r["dropouts"]) for k in L if k != v for r in R[k] if r["failure"]]
    stray = [f for f in fails if (strict or (f[0], f[1]) not in allowed) and f[1] <= min(last)]
    if stray: anomalies.append(f"stray survivor failures {stray}")
    drops = [(k, r["round"], r["dropouts"]) for k in L if k != v for r in R[k] if r["dropouts"] and not r["failure"]
             and set(r["dropouts"]) - {v} and r["round"] <= min(last)]
    if drops: anomalies.append(f"stray dropouts {drops}")
    # survivors: rounds where victim counted a dropout (its groups)
    vdrop = sorted({r["round"] for k in L if k != v for r in R[k] if v in r["dropouts"]})
    victim_fails = [(r["round"], (r["failure"] or "")[:90]) for r in after if r["failure"]]
    lost = (first_ok["round"] - kill_round) if first_ok else None  # rounds the victim did not complete
    eps_note = ""
    if args.get("dp"):
        at_kill = max((kill.get("last_report") or {}).get("epsilon") or 0, kill["ledger"].get("epsilon", 0))
        fe = first.get("epsilon") if first else None
        final = next(e for e in events if e["event"] == "final_ledger")["ledger"]
        if fe is None or fe < at_kill or final.get("epsilon", 0) < kill["ledger"].get("epsilon", 0):
            anomalies.append(f"epsilon went down: at kill {at_kill}, first {fe}, final {final.get('epsilon')}")
        eps_note = f"eps {at_kill:.3f}->{fe}"
    # timings: the round line 'time' is unix; kill 't' is relative. Use victim's own first-after line 'elapsed'
    wait = first_ok["time"] - restart["unix"] if first_ok else None
    first_wait = first["time"] - restart["unix"] if first else None
    longest = max((r["seconds"] for r in after[:3]), default=None)
    if len(victim_fails) > 2: anomalies.append(f"victim failed {len(victim_fails)} rounds after restart")
    if wait is not None and wait > 13: anomalies.append(f"victim waited {wait:.1f}s to rejoin")
    if first_ok is None: anomalies.append("victim never completed a round after restart")
    return {
        "dir": os.path.basename(d), "victim": v, "kill_after_line_s": round(kill["after_line_s"], 3),
        "down": args["down"], "dp": args["dp"], "kill_round": kill_round, "resumed": resumed,
        "others_at_kill": kill["others_at"], "others_at_restart": restart["others_at"],
        "restart_round": restart_round, "first_ok": first_ok and first_ok["round"], "lost": lost,
        "victim_fails": victim_fails, "rejoin_elapsed_s": wait and round(wait, 2), "first_round_elapsed_s": first_wait and round(first_wait, 2),
        "survivor_fails": fails, "victim_dropout_rounds": vdrop, "last": last, "eps": eps_note,
        "anomalies": anomalies,
    }

if __name__ == "__main__":
    strict = "--no-survivor-failures" in sys.argv[1:]
    results = [analyze(d, strict) for d in sys.argv[1:] if not d.startswith("--")]
    for r in results: print(json.dumps(r))
    sys.exit(1 if any(r["anomalies"] for r in results) else 0)
