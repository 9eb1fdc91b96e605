"""Elliptical slice sampling (Murray, Adams and MacKay 2010) for Gaussian-prior addresses.

For choices f with a Gaussian prior N(m, S) and any likelihood L (everything
else in the model), one step draws nu ~ N(0, S) and a slice level
log y = log L(f) + log u, then searches the ellipse
f'(theta) = m + (f - m) cos theta + nu sin theta, shrinking a bracket on
theta until log L(f') > log y. No step size, and every step moves.

The prior of each selected address is read from the distribution the trace
recorded there: `gaussian` / `normal` / `broadcasted_normal` (mu, sigma) or
`multivariate_normal` (mean, cov). Priors may depend on unselected addresses
(hierarchical models), but not on each other: a selected address whose prior
mean or scale moves with another selected address is refused.

log L(f') - log L(f) is computed from `update`'s weight less the prior
log-density change, so the method works on any generative function.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

from genmlx._backend import get_backend
from genmlx._keys import resolve_key, split
from genmlx.core.address import Path, show
from genmlx.core.choicemap import EMPTY
from genmlx.core.trace import Trace
from genmlx.inference._sites import as_paths, check_paths, distribution_at
from genmlx.inference.mcmc.kernel import Kernel, log_uniform

__all__ = ["elliptical_slice_step", "elliptical_slice_kernel", "MAX_SHRINKS"]

MAX_SHRINKS = 200  # a bracket of width 2 pi shrinks below float precision long before this

_GAUSSIANS = ("gaussian", "normal", "broadcasted_normal")


def _prior(trace: Trace, path: Path) -> tuple[Any, Any]:
    """(distribution, a function key -> draw of nu ~ N(0, S)) for the prior at `path`."""
    backend = get_backend()
    dist = distribution_at(trace, path)
    value = backend.xp.asarray(trace[path])
    if dist.name in _GAUSSIANS:
        sigma = dist.params["sigma"]
        return dist, lambda key: sigma * backend.normal(key, tuple(value.shape), value.dtype)
    if dist.name == "multivariate_normal":
        lower = dist.scale_tril
        return dist, lambda key: backend.xp.matmul(
            lower, backend.normal(key, tuple(value.shape), value.dtype)[..., None])[..., 0]
    raise ValueError(
        f"elliptical_slice: address {show(path)} is drawn from {dist.name}; elliptical slice "
        "sampling needs a Gaussian prior (gaussian, normal, broadcasted_normal or "
        "multivariate_normal). Use mh or mh_custom for this address.")


def _mean(dist: Any) -> Any:
    return dist.params["mean"] if dist.name == "multivariate_normal" else dist.params["mu"]


def _total(xp: Any, x: Any) -> Any:
    return xp.sum(x) if getattr(x, "ndim", 0) else x


def _same_prior(old: Any, new: Any) -> bool:
    xp = get_backend().xp
    return all(bool(xp.all(old.params[k] == new.params[k])) for k in old.params)


def elliptical_slice_step(trace: Trace, addresses: Any, key: Any = None) -> tuple[Trace, bool]:
    """One elliptical slice step on the Gaussian-prior choices at `addresses` (jointly).

    Args:
        trace: the current trace.
        addresses: `select(...)`, one address or a list of addresses with
            Gaussian priors.
        key: a random key (None: the global stream).

    Returns:
        (new_trace, accepted): accepted is False only if the bracket shrank
        MAX_SHRINKS times without finding a point on the slice.

    Raises:
        ValueError: an address has a non-Gaussian prior, or the prior of one
            selected address depends on another.

    Example:
        >>> tr, _ = elliptical_slice_step(tr, select("f"), gm.key(0))
    """
    backend = get_backend()
    xp = backend.xp
    paths = as_paths(addresses)
    check_paths(trace, paths, "elliptical_slice")
    k_nu, k_level, k_theta, k_loop = split(resolve_key(key), 4)
    nu_keys = split(k_nu, len(paths))
    priors = [_prior(trace, p) for p in paths]
    current = [xp.asarray(trace[p]) for p in paths]
    means = [_mean(d) for d, _ in priors]
    nus = [draw(nu_keys[i]) for i, (_, draw) in enumerate(priors)]
    old_prior = sum(_total(xp, d.log_prob(f)) for (d, _), f in zip(priors, current))
    log_level = log_uniform(k_level)
    theta = 2.0 * math.pi * float(backend.to_python(backend.uniform(k_theta, ())))
    lo, hi = theta - 2.0 * math.pi, theta
    for _ in range(MAX_SHRINKS):
        c, s = math.cos(theta), math.sin(theta)
        proposal = [m + (f - m) * c + nu * s for f, m, nu in zip(current, means, nus)]
        constraints = EMPTY
        for path, value, f in zip(paths, proposal, current):
            constraints = constraints.set(path, xp.astype(value, f.dtype))
        new, weight, _, _ = trace.gen_fn.update(trace, constraints, key=k_loop)
        new_prior = sum(_total(xp, d.log_prob(f)) for (d, _), f in zip(priors, proposal))
        if bool(weight - (new_prior - old_prior) > log_level):
            for path, (dist, _) in zip(paths, priors):
                if not _same_prior(dist, distribution_at(new, path)):
                    raise ValueError(
                        f"elliptical_slice: the prior of address {show(path)} changed when "
                        "other selected addresses moved; the selected addresses' priors must "
                        "not depend on each other. Select them in separate steps.")
            return new, True
        if theta < 0.0:
            lo = theta
        else:
            hi = theta
        k_loop, k_draw = split(k_loop, 2)
        theta = lo + (hi - lo) * float(backend.to_python(backend.uniform(k_draw, ())))
    return trace, False


def elliptical_slice_kernel(addresses: Any) -> Kernel:
    """The kernel `(trace, key) -> elliptical_slice_step(trace, addresses, key)`."""
    paths: Sequence[Path] = as_paths(addresses)
    return Kernel(lambda trace, key: elliptical_slice_step(trace, paths, key),
                  f"elliptical_slice({', '.join(show(p) for p in paths)})")
