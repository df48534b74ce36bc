"""Reference data for @ablate/stats' detectable effect and seeds needed (fixtures/golden/stats/power_ttest.json).

statsmodels' TTestIndPower (two independent groups of n seeds) and TTestPower (paired: n differences),
two-sided: the standardized effect size detectable with `power` at `alpha`, and the seeds needed for a
difference `delta` with seed std `sigma` (solve_power's fractional nobs, rounded up).
Run: python3 scripts/golden_stats_power.py > fixtures/golden/stats/power_ttest.json
"""
import json
import math

import scipy
import statsmodels
from statsmodels.stats.power import TTestIndPower, TTestPower

IND = TTestIndPower()
ONE = TTestPower()


def solve(design, **kw):
    if design == "two-sample":
        return IND.solve_power(alternative="two-sided", **kw)
    if "nobs1" in kw:
        kw["nobs"] = kw.pop("nobs1")
    return ONE.solve_power(alternative="two-sided", **kw)


cases = []
skipped = []
for design in ("two-sample", "paired"):
    for n in (2, 3, 4, 5, 8, 10, 20):
        for alpha, power in ((0.05, 0.8), (0.05, 0.9), (0.01, 0.8)):
            d = solve(design, effect_size=None, nobs1=n, alpha=alpha, power=power)
            # statsmodels' root finder stops at its bracket (d = 10) when the answer lies beyond: keep only
            # solutions whose power it reproduces.
            got = (IND if design == "two-sample" else ONE).power(d, n, alpha, alternative="two-sided")
            if abs(got - power) > 1e-6:
                skipped.append({"design": design, "n": n, "alpha": alpha, "power": power, "solver_returned": float(d)})
                continue
            cases.append({"design": design, "n": n, "alpha": alpha, "power": power, "effect_size": float(d), "power_at_effect": float(got)})
    for delta, sigma in ((0.01, 0.017), (0.005, 0.017), (0.03, 0.01), (0.02, 0.035), (0.1, 0.02)):
        nobs = solve(design, effect_size=delta / sigma, nobs1=None, alpha=0.05, power=0.8)
        cases.append(
            {"design": design, "n": None, "alpha": 0.05, "power": 0.8, "delta": delta, "sigma": sigma,
             "seeds_needed_fractional": float(nobs), "seeds_needed": max(2, math.ceil(float(nobs) - 1e-9))}
        )

print(json.dumps({
    "case": "power_ttest",
    "kind": "power",
    "reference": f"statsmodels {statsmodels.__version__} (TTestIndPower, TTestPower solve_power, alternative='two-sided'), scipy {scipy.__version__}",
    "semantics": "power_at_effect: statsmodels' power at effect_size (noncentral t, exact); effect_size: smallest d = delta/sigma detectable with `power` at `alpha` with n seeds per group (two-sample) or n pairs (paired); seeds_needed: ceil of solve_power's nobs for d = delta/sigma (at least 2)",
    "power_cases": cases,
    "skipped_unconverged": skipped,
    "tolerance": {"abs": 1e-4, "power_abs": 1e-7},
    "tolerance_note": "abs bounds the effect size, which statsmodels solves only to about 1e-6 in power (brentq); power_abs bounds the power computed at statsmodels' own effect size",
}, indent=1))
