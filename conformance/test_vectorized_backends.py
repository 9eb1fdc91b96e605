"""L0 on every backend: batched particles agree with the handler path and with
exact answers."""

import numpy as np

import genmlx as gm
from genmlx.inference.vectorized import vectorized_importance_sampling
from genmlx.testing import assert_close, to_numpy
from tests.models import XS, line
from tests.test_vectorized import OBS, exact_line_log_ml


def test_vectorized_is_log_marginal_likelihood_within_standard_error(backend):
    res = vectorized_importance_sampling(line, (XS,), OBS, 100_000, key=gm.key(4))
    w = to_numpy(res.log_weights)
    ew = np.exp(w - w.max())
    se = ew.std() / (np.sqrt(len(w)) * ew.mean())  # delta-method SE of log mean exp
    assert abs(float(to_numpy(res.log_marginal_likelihood)) - exact_line_log_ml()) < 5 * se + 1e-3


def test_particles_score_like_the_handler_path(backend):
    vtr = gm.vsimulate(line, (XS,), n=8, key=gm.key(0))
    for i in (0, 7):
        tr = vtr.particle(i)
        assert_close(tr.score, line.assess((XS,), tr.choices).weight, rtol=1e-5, atol=1e-4)
