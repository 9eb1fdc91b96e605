"""The README's first command: the linear-regression example runs and lands on the
exact posterior."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_linear_regression_example_prints_posterior_means_near_exact():
    out = subprocess.run([sys.executable, str(ROOT / "examples" / "linear_regression.py")],
                         cwd=ROOT, text=True, capture_output=True, check=True, timeout=300).stdout
    for name in ("slope", "intercept"):
        match = re.search(rf"Posterior {name} mean: (-?[\d.]+) \+/- ([\d.]+) \(exact posterior: "
                          rf"(-?[\d.]+)", out)
        assert match, out
        estimate, se, exact = map(float, match.groups())
        # the example's own Monte Carlo SE (from the chain's ESS): allow 5 of them
        assert abs(estimate - exact) < 5 * se, (name, estimate, se, exact)
    assert abs(float(re.search(r"slope mean: (-?[\d.]+)", out).group(1)) - 2.0) < 0.1
