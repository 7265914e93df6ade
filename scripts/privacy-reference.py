"""Computes reference (epsilon, optimal order) values with Google's dp-accounting RDP accountant.

Reads rows "q,sigma,steps,delta" on stdin (or builds the standard grid with --grid) and writes
"q,sigma,steps,delta,epsilon,order" CSV on stdout; with --time, also prints the seconds spent
in dp-accounting to stderr as "seconds=<s>". With "--calibrate Q STEPS EPSILON DELTA" prints
the smallest noise multiplier dp-accounting finds for that budget and the seconds it took.
"""
import sys, time
from dp_accounting import dp_event
from dp_accounting.rdp import rdp_privacy_accountant as rdp

SAMPLING_RATES = [0.001, 0.004, 0.01, 0.03, 0.1, 0.25, 0.5, 1.0]
NOISE_MULTIPLIERS = [0.5, 0.8, 1.0, 1.5, 2.0, 4.0, 10.0]
STEPS = [1, 10, 100, 1000, 10000, 100000]
MAIN_DELTA = 1e-5
OTHER_DELTAS = [1e-3, 1e-8]


def grid():
    for q in SAMPLING_RATES:
        for sigma in NOISE_MULTIPLIERS:
            for steps in STEPS:
                yield q, sigma, steps, MAIN_DELTA
    # Other deltas on a thinner grid: every other sampling rate and noise multiplier.
    for delta in OTHER_DELTAS:
        for q in SAMPLING_RATES[::2]:
            for sigma in NOISE_MULTIPLIERS[::2]:
                for steps in STEPS[::2]:
                    yield q, sigma, steps, delta


def epsilon(q, sigma, steps, delta):
    accountant = rdp.RdpAccountant()  # default orders, add-or-remove-one neighbouring relation
    event = dp_event.PoissonSampledDpEvent(q, dp_event.GaussianDpEvent(sigma))
    accountant.compose(event, steps)
    return accountant.get_epsilon_and_optimal_order(delta)


def calibrate(q, steps, target_epsilon, delta):
    """The smallest noise multiplier meeting (target_epsilon, delta), by dp-accounting's search."""
    from dp_accounting import mechanism_calibration as mc
    make_event = lambda sigma: dp_event.SelfComposedDpEvent(
        dp_event.PoissonSampledDpEvent(q, dp_event.GaussianDpEvent(sigma)), steps)
    return mc.calibrate_dp_mechanism(rdp.RdpAccountant, make_event, target_epsilon, delta,
                                     mc.LowerEndpointAndGuess(0.1, 1.0), tol=1e-6)


def main():
    if "--calibrate" in sys.argv:
        q, steps, target, delta = sys.argv[sys.argv.index("--calibrate") + 1:][:4]
        start = time.perf_counter()
        sigma = calibrate(float(q), int(steps), float(target), float(delta))
        print(f"sigma={sigma!r} seconds={time.perf_counter() - start}")
        return
    if "--grid" in sys.argv:
        rows = list(grid())
    else:
        rows = []
        for line in sys.stdin:
            line = line.strip()
            if not line or line.startswith("q"):
                continue
            q, sigma, steps, delta = line.split(",")[:4]
            rows.append((float(q), float(sigma), int(steps), float(delta)))
    start = time.perf_counter()
    results = [epsilon(*row) for row in rows]
    seconds = time.perf_counter() - start
    print("q,sigma,steps,delta,epsilon,order")
    for (q, sigma, steps, delta), (eps, order) in zip(rows, results):
        print(f"{q!r},{sigma!r},{steps},{delta!r},{float(eps)!r},{float(order)!r}")
    if "--time" in sys.argv:
        print(f"seconds={seconds}", file=sys.stderr)


if __name__ == "__main__":
    main()
