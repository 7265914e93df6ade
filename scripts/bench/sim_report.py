"""Summarises `gossipnode simulate --json` runs for scripts/bench-sim.sh (standard library only).

  sim_report.py scale RUN.jsonl WALL_S                   -> one JSON object of the run's figures
  sim_report.py memory N1:RSS1 N2:RSS2 ...               -> least-squares fixed and per-node cost
  sim_report.py mixing EPS1,EPS2 N:K:RUN.jsonl ...        -> Markdown table on stderr, JSON on stdout

Mixing prediction: a round averages inside G = max(1, floor(N/K)) random groups, which multiplies
the expected squared spread sum_i |theta_i - mean|^2 by rho = (G-1)/(N-1) exactly (equal weights,
groups independent of the models). So the spread falls by sqrt(rho) a round and reaching eps from
the initial disagreement D0 takes ceil(2 ln(D0/eps) / ln(1/rho)) rounds (1 when G = 1). With
independent random models D0 ~ sqrt(N): rounds ~ log N / log K + 2 log(1/eps) / log K.
"""
import json
import math
import sys


def lines(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.startswith("{")]


def scale(path, wall):
    events = lines(path)
    start = events[0]
    rounds = [e for e in events if e["event"] == "round"]
    summary = events[-1]
    last = rounds[-1]
    print(json.dumps({
        "nodes": start["nodes"], "rounds": len(rounds), "wall_s": round(float(wall), 1),
        "simulated_wall_s": round(summary["wall_s"], 1), "cpu_s": round(summary["cpu_s"], 1),
        "peak_rss_mb": round(summary["peak_rss_mb"]),
        "test_accuracy": last["test_accuracy_mean"], "test_accuracy_min": last["test_accuracy_min"],
        "disagreement": round(last["disagreement"], 4), "failed_groups": sum(r["failed_groups"] for r in rounds),
        "bytes_per_node_round": round(last["bytes_per_node"]), "virtual_s": round(summary["virtual_s"], 2),
        "stopped": summary["stopped"], "evaluated_nodes": start["evaluated_nodes"], "test_examples": start["test_examples"],
    }))


def memory(points):
    pairs = [tuple(float(x) for x in p.split(":")) for p in points]
    n = len(pairs)
    mx = sum(p[0] for p in pairs) / n
    my = sum(p[1] for p in pairs) / n
    slope = sum((x - mx) * (y - my) for x, y in pairs) / sum((x - mx) ** 2 for x, _ in pairs)
    fixed = my - slope * mx
    worst = max(abs(y - (fixed + slope * x)) / y for x, y in pairs)
    print(json.dumps({"per_node_kb": round(slope * 1024), "fixed_mb": round(fixed), "worst_fit_error": round(worst, 3)}))


def predicted(n, k, d0, eps):
    groups = max(1, n // k)
    if groups == 1:
        return 1
    rho = (groups - 1) / (n - 1)
    return max(1, math.ceil(2 * math.log(d0 / eps) / math.log(1 / rho)))


def mixing(epsilons, runs):
    rows = []
    for run in runs:
        n, k, path = run.split(":", 2)
        n, k = int(n), int(k)
        events = lines(path)
        d0 = events[0]["initial_disagreement"]
        series = [e["disagreement"] for e in events if e["event"] == "round"]
        row = {"n": n, "k": k, "groups": max(1, n // k), "d0": d0, "floor": min(series[-3:]), "rounds": len(series),
               "log_ratio": math.log(n) / math.log(k)}
        for eps in epsilons:
            reached = next((i + 1 for i, d in enumerate(series) if d < eps), None)
            row[str(eps)] = (reached, predicted(n, k, d0, eps))
        rows.append(row)
    head = "| N | K | groups | initial disagreement | " + " | ".join(
        f"rounds to < {eps} (predicted)" for eps in epsilons) + " | log N / log K | floor |"
    out = [head, "|" + "---|" * (6 + len(epsilons))]
    for r in rows:
        cells = [str(r["n"]), str(r["k"]), str(r["groups"]), f"{r['d0']:.2f}"]
        for eps in epsilons:
            got, want = r[str(eps)]
            cells.append(f"{got if got is not None else '> ' + str(r['rounds'])} ({want})")
        cells += [f"{r['log_ratio']:.2f}", f"{r['floor']:.4f}"]
        out.append("| " + " | ".join(cells) + " |")
    print("\n".join(out), file=sys.stderr)
    print(json.dumps({f"n{r['n']}k{r['k']}": [r[str(e)][0] for e in epsilons] + [r[str(e)][1] for e in epsilons]
                      for r in rows}))


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "scale":
        scale(sys.argv[2], sys.argv[3])
    elif mode == "memory":
        memory(sys.argv[2:])
    elif mode == "mixing":
        mixing([float(e) for e in sys.argv[2].split(",")], sys.argv[3:])
