#!/usr/bin/env python3
"""Checks one fault-test scenario (scripts/fault-test.sh) from the nodes' JSON lines, the chaos
proxy's counters and the script's event log, writes RUN/result.json, prints the failed checks;
or, with --table, prints the table of every scenario's result. Exit code 1 if a check failed."""
import argparse
import json
import os
import re
import sys


def read_lines(path):
    out = []
    if not os.path.exists(path):
        return out
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.strip()
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:
                    pass
    return out


def check(run, nodes, baseline, tolerance, expect):
    names = [f"node{i}" for i in range(1, nodes + 1)]
    lines = {n: read_lines(os.path.join(run, f"{n}.jsonl")) for n in names}
    reports = {n: [l for l in lines[n] if l.get("event") == "round"] for n in names}
    summaries = {n: next((l for l in reversed(lines[n]) if l.get("event") == "summary"), None) for n in names}
    events = read_lines(os.path.join(run, "events.jsonl"))
    counters = [l for l in read_lines(os.path.join(run, "chaos.jsonl")) if l.get("event") == "counters"]
    proxy = counters[-1] if counters else {}
    disturbed = set(names) if expect.get("disturbed") == "all" else set(expect.get("disturbed", []))
    checks = {}

    def verdict(name, ok, detail=""):
        checks[name] = (bool(ok), detail)

    # finished: a summary that is not a failure, exit code 0, no timeout.
    exits = {e["node"]: e["code"] for e in events if e.get("event") == "exit"}
    timeouts = [e["node"] for e in events if e.get("event") == "timeout"]
    bad = [n for n in names if summaries[n] is None or str(summaries[n].get("reason", "")).startswith("failed")
           or exits.get(n) != 0]
    verdict("finished", not bad and not timeouts,
            f"not finished cleanly: {sorted(set(bad + timeouts))}" if bad or timeouts else "")

    # together: last rounds within one of each other.
    last = [summaries[n]["rounds"] for n in names if summaries[n]]
    spread = (max(last) - min(last)) if last else None
    verdict("together", spread is not None and spread <= 1, f"last rounds {last}")

    # failures and dropouts only on the disturbed nodes. Nodes may stop a round apart (a stop
    # pushed in the agreed stop round reaches the others too late): a round run after some nodes
    # stopped cannot complete, so rounds past the earliest stop are not held against anyone.
    # One exception: a member whose failure detector gave up on a disturbed node just before it
    # came back, in a group with it, unmasks with a view the rest of the group does not have and
    # fails that round by secure aggregation's view rule (SPEC §7.2, §15); the others complete.
    # Such a failed round reports the member's own view as its dropouts, which must then be
    # disturbed nodes only.
    first_stop = min(last) if last else 0
    failed = [(n, r["round"], r["failure"], r["dropouts"]) for n in names for r in reports[n] if r.get("failure")]
    view_rule = [f for f in failed if "saw different dropouts" in f[2] and f[3] and set(f[3]) <= disturbed]
    # The same rule when no member refused: views split so that none reached the group's threshold
    # (the failure reports how many of the voters chose its view), so nobody answered and the
    # members timed out. Seen where a disturbed node was in the group: killed while sending its
    # masked inputs (some members summed its input, others not), or just restarted (its shares
    # reached one member after that member's share deadline, so the two masked asymmetrically and
    # each dropped the other). Safe by design (SPEC §7.5, §15). A timeout whose view had the
    # threshold's votes, or could still have had them from live members whose votes had not come,
    # is not accepted: it means messages did not arrive.
    def split_view(f):
        group = group_of.get((f[0], f[1]), set())
        t = min(max(len(group) // 2 + 1, 3), len(group))
        counted = re.search(r"(\d+) of (\d+) votes for it", f[2] or "")
        if counted is None or not group & disturbed or not set(f[3]) <= disturbed:
            return False
        votes, voters = int(counted.group(1)), int(counted.group(2))
        return votes + max(0, len(group) - voters - len(group & disturbed)) < t
    group_of = {(n, r["round"]): set(r.get("group", [])) for n in names for r in reports[n]}
    view_rule += [f for f in failed if "unmask phase timed out" in f[2] and split_view(f)]
    stray_failures = [f[:3] for f in failed if f[0] not in disturbed and f[1] <= first_stop and f not in view_rule]
    verdict("failures", not stray_failures, f"unexpected failed rounds: {stray_failures[:4]}")
    # A disturbed node's own failed round names its own view's dropouts: after a restart that view
    # may lack a live member that left the restarted node out of its roster (SPEC §7.1), while that
    # member's group completed. Completed rounds, and everyone else's, must name disturbed nodes only.
    with_dropouts = [(n, r["round"], r["dropouts"]) for n in names for r in reports[n]
                     if r.get("dropouts") and not (n in disturbed and r.get("failure"))]
    stray_dropouts = [d for d in with_dropouts if not set(d[2]) <= disturbed and d[1] <= first_stop]
    verdict("dropouts", not stray_dropouts, f"unexpected dropouts: {stray_dropouts[:4]}")

    # exact: same round, group and contributors -> the same average -> the same test accuracy.
    cohorts = {}
    for n in names:
        for r in reports[n]:
            if r.get("failure") or r.get("test_accuracy") is None:
                continue
            key = (r["round"], tuple(r["group"]), tuple(sorted(r["dropouts"])))
            cohorts.setdefault(key, {})[n] = r["test_accuracy"]
    differing = [(k[0], v) for k, v in cohorts.items() if len(set(v.values())) > 1]
    shared = sum(1 for v in cohorts.values() if len(v) > 1)
    verdict("exact", not differing and shared > 0,
            f"members of one group disagree: {differing[:3]}" if differing else
            ("no round was completed by two members" if shared == 0 else ""))

    # accuracy against the baseline.
    accuracies = [summaries[n]["test_accuracy"] for n in names if summaries[n] and summaries[n].get("test_accuracy") is not None]
    accuracy = sum(accuracies) / len(accuracies) if accuracies else None
    delta = None
    if baseline:
        reference = json.load(open(os.path.join(baseline, "result.json"))).get("accuracy") \
            if os.path.exists(os.path.join(baseline, "result.json")) else None
        if reference is None or accuracy is None:
            verdict("accuracy", False, "no baseline accuracy (run the baseline first)" if reference is None else "no accuracy")
        else:
            delta = 100 * (accuracy - reference)
            worst = min(accuracies)
            # DP noise makes repeated runs differ more: fault-free baseline-dp runs ended between
            # 74.6% and 77.6% over 13 runs (2026-11-30), plain baselines between 81.4% and 82.8%.
            # One-sided: a fault must not cost accuracy; a run above a low baseline is no failure
            # (one ended 2.7 points above a baseline of 81.3%).
            allowed = tolerance + (1.5 if expect.get("dp") else 0)
            verdict("accuracy", 100 * (reference - worst) <= allowed,
                    f"a node ends at {100 * worst:.2f}% (mean {100 * accuracy:.2f}%) vs baseline {100 * reference:.2f}%")

    # healed: every node's last 3 rounds up to the earliest stop are clean.
    unhealed = [n for n in names if any(r.get("failure") or r.get("dropouts")
                                        for r in [r for r in reports[n] if r["round"] <= first_stop][-3:])]
    verdict("healed", not unhealed, f"last rounds not clean on {unhealed}")

    # effect: the fault really happened.
    missing = [c for c in expect.get("proxy", []) if proxy.get(c, 0) <= 0]
    if "proxy" in expect:
        verdict("effect", not missing, f"proxy counters zero: {missing}")
    if "effect_node" in expect:
        target = expect["effect_node"]
        seen = any(target in r.get("dropouts", []) for n in names for r in reports[n]) or \
            any(f[0] == target for f in failed) or \
            any(r.get("failure") and target in r.get("group", []) for n in names for r in reports[n])
        verdict("effect", seen, f"nobody missed {target}: the fault did not bite")

    # resumed and epsilon for a killed node.
    if "killed" in expect:
        target = expect["killed"]
        kill = next((e for e in events if e.get("event") == "kill"), None)
        if kill is None:
            verdict("resumed", False, "the node was never killed")
        else:
            before = kill["last_report"]
            index = next((i for i, r in enumerate(reports[target]) if r is not None and r == before), None)
            after = reports[target][index + 1:] if index is not None else []
            first = after[0] if after else None
            # The restart's start line names the checkpoint it resumed from: at least the last round
            # reported before the kill (a round is reported once its checkpoint is on disk). Catch-up
            # alone would also put the first round after the kill's, so that is not enough.
            starts = [l for l in lines[target] if l.get("event") == "start"]
            resumed = starts[-1].get("resumed_after_round") if len(starts) >= 2 else None
            verdict("resumed", first is not None and first["round"] > before["round"]
                    and resumed is not None and resumed >= before["round"],
                    f"restart resumed after round {resumed}, first round after restart {first and first['round']}, "
                    f"last before kill {before['round']}")
            if expect.get("dp"):
                final = next((e["ledger"] for e in events if e.get("event") == "final_ledger" and e["node"] == target), {})
                at_kill = kill["ledger"]
                reported = max(before.get("epsilon") or 0, at_kill.get("epsilon", 0))
                ok = (first is not None and (first.get("epsilon") or 0) >= reported and at_kill.get("steps", 0) > 0
                      and final.get("steps", 0) > at_kill["steps"] and final.get("epsilon", 0) >= at_kill["epsilon"])
                verdict("epsilon", ok, f"ε at kill {reported:.4f} ({at_kill.get('steps')} steps), first after restart "
                        f"{first and first.get('epsilon')}, final ledger {final.get('epsilon')} ({final.get('steps')} steps)")

    seconds = next((e["value"] for e in events if e.get("event") == "seconds"), None)
    slowest = max((r.get("seconds") or 0 for n in names for r in reports[n]), default=None)
    result = {
        "scenario": os.path.basename(run.rstrip("/")),
        "passed": all(ok for ok, _ in checks.values()),
        "checks": {k: {"ok": ok, "detail": d} for k, (ok, d) in checks.items()},
        "accuracy": accuracy, "delta_pp": delta, "last_rounds": last,
        "failed_rounds": len(failed), "dropout_rounds": len(with_dropouts),
        "proxy": {k: proxy.get(k, 0) for k in ["forwarded", "dropped", "duplicated", "reordered", "partitioned"]},
        "seconds": seconds, "slowest_round": slowest,
    }
    with open(os.path.join(run, "result.json"), "w") as f:
        json.dump(result, f, indent=1)
    for name, (ok, detail) in checks.items():
        if not ok:
            print(f"    FAILED {name}: {detail}")
    return result["passed"]


def table(directory, scenarios):
    header = f"{'scenario':<12} {'result':<6} {'rounds':<7} {'failed':>6} {'dropout':>7} {'acc %':>6} {'Δpp':>6} " \
             f"{'s':>4} {'slowest':>7}  {'proxy drop/dup/reord/part':<26} checks"
    print(header)
    print("-" * len(header))
    all_passed = True
    for name in scenarios:
        path = os.path.join(directory, name, "result.json")
        if not os.path.exists(path):
            print(f"{name:<12} {'-':<6} (no result)")
            all_passed = False
            continue
        r = json.load(open(path))
        all_passed &= r["passed"]
        rounds = f"{min(r['last_rounds'])}-{max(r['last_rounds'])}" if r["last_rounds"] else "-"
        acc = f"{100 * r['accuracy']:.2f}" if r["accuracy"] is not None else "-"
        delta = f"{r['delta_pp']:+.2f}" if r["delta_pp"] is not None else "-"
        p = r["proxy"]
        proxy = f"{p['dropped']}/{p['duplicated']}/{p['reordered']}/{p['partitioned']}"
        checks = " ".join(("" if c["ok"] else "!") + k for k, c in r["checks"].items())
        print(f"{name:<12} {'pass' if r['passed'] else 'FAIL':<6} {rounds:<7} {r['failed_rounds']:>6} "
              f"{r['dropout_rounds']:>7} {acc:>6} {delta:>6} {r['seconds'] or 0:>4} {r.get('slowest_round') or 0:>7.2f}  {proxy:<26} {checks}")
    print("(failed, dropout: round reports with a failure / with dropouts, all nodes; s: scenario wall time; "
          "slowest: longest round in seconds; '!' marks a failed check)")
    return all_passed


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--run")
    parser.add_argument("--nodes", type=int)
    parser.add_argument("--baseline", default="")
    parser.add_argument("--tolerance", type=float, default=2.0)
    parser.add_argument("--expect", default="{}")
    parser.add_argument("--table", nargs="+")
    args = parser.parse_args()
    if args.table:
        sys.exit(0 if table(args.table[0], args.table[1:]) else 1)
    sys.exit(0 if check(args.run, args.nodes, args.baseline, args.tolerance, json.loads(args.expect)) else 1)


if __name__ == "__main__":
    main()
