"""Multivariate distributions: multivariate_normal, dirichlet, wishart, inv_wishart.

Parameters carry event axes (a mean [..., D], a covariance [..., D, D], a
concentration [..., K]); leading axes are batch axes and broadcast, so
`multivariate_normal(means [N, D], cov [D, D])` has batch shape (N,).
Concrete covariance and scale matrices (Python lists, NumPy arrays) are
checked for symmetry and positive definiteness at construction; backend
arrays are not (that would force a device sync, and is impossible under
compile).
"""

from __future__ import annotations

import functools
import math
from typing import Any

from genmlx._backend import Array, Backend, get_backend, host_numpy
from genmlx.distributions.base import (
    LOG_2PI, POSITIVE_DEFINITE, REAL, SIMPLEX, Distribution, _is_concrete, as_param,
    broadcast_shapes, check_param, first_failure,
)
from genmlx.distributions.samplers import log_gamma
from genmlx.distributions.special import lgamma, log_softmax
from genmlx.errors import ParameterError

__all__ = ["MultivariateNormal", "Dirichlet", "Wishart", "InvWishart", "multivariate_normal",
           "dirichlet", "wishart", "inv_wishart"]


def _shape(x: Any) -> tuple:
    np = host_numpy()  # shapes of concrete inputs only

    return tuple(x.shape) if hasattr(x, "shape") else np.shape(x)


def _check_square(dist: str, name: str, value: Any, size: int | None = None) -> int:
    """Check `value` is [..., D, D] (with D == size when given) and, when concrete, SPD."""
    shape = _shape(value)
    if len(shape) < 2 or shape[-1] != shape[-2] or (size is not None and shape[-1] != size):
        want = f"[..., {size}, {size}]" if size is not None else "[..., D, D]"
        raise ParameterError(f"{dist}: parameter '{name}' must have shape {want}; got {shape}.")
    if _is_concrete(value):
        np = host_numpy()  # validating concrete user input only

        a = np.asarray(value, dtype=float)
        # per matrix of the batch: finite, symmetric, all eigenvalues > 0
        finite = np.all(np.isfinite(a), axis=(-2, -1))
        symmetric = np.all(np.isclose(a, np.swapaxes(a, -1, -2), rtol=1e-6, atol=1e-8),
                           axis=(-2, -1))
        good = finite & symmetric
        safe = np.where(good[..., None, None], a, np.eye(shape[-1]))
        good = good & np.all(np.linalg.eigvalsh(safe) > 0, axis=-1)
        if not np.all(good):
            where = first_failure(good)
            shown = f"got {value!r}" if a.ndim == 2 else \
                f"the matrix at batch index {where} is {a[where].tolist()!r}"
            raise ParameterError(f"{dist}: parameter '{name}' must be a symmetric positive-"
                                 f"definite matrix (all eigenvalues > 0); {shown}.")
    return shape[-1]


def _diagonal(xp, a: Array) -> Array:
    return xp.sum(a * xp.eye(a.shape[-1], dtype=a.dtype), axis=-1)


def _transpose(xp, a: Array) -> Array:
    return xp.swapaxes(a, -1, -2)


def _matvec(xp, matrix: Array, vectors: Array) -> Array:
    """matrix @ v for every vector v on the last axis of `vectors`.

    An unbatched matrix takes one matrix product (vectors @ matrix'), several
    times faster than a stack of D x D products on every backend.
    """
    if matrix.ndim == 2:
        return xp.matmul(vectors, _transpose(xp, matrix))
    return xp.matmul(matrix, vectors[..., None])[..., 0]


def _log_multigamma(xp, a: Array, dim: int) -> Array:
    """log Gamma_D(a) = D (D - 1) / 4 log pi + sum_j lgamma(a - j / 2)."""
    total = dim * (dim - 1) / 4.0 * math.log(math.pi)
    for j in range(dim):
        total = total + lgamma(a - 0.5 * j)
    return total


class _MatrixBase(Distribution):
    """Shared pieces of distributions whose parameters include a [..., D, D] matrix."""

    def _lower_inverse(self, lower: Array) -> Array:
        """L^-1 for lower-triangular L (batched)."""
        xp = self.xp
        eye = xp.broadcast_to(xp.eye(lower.shape[-1], dtype=lower.dtype), tuple(lower.shape))
        return self.backend.solve_triangular(lower, eye, lower=True)

    def _symmetric_positive_definite(self, x: Array) -> Array:
        """Mask of symmetric positive-definite matrices (Sylvester's criterion), and log det."""
        xp, backend = self.xp, self.backend
        dim = x.shape[-1]
        tol = math.sqrt(float(xp.finfo(x.dtype).eps))
        scale = xp.max(xp.abs(x), axis=(-2, -1))
        ok = xp.all(xp.abs(x - _transpose(xp, x)) <= tol * scale[..., None, None], axis=(-2, -1))
        log_det = None
        for k in range(1, dim + 1):
            sign, log_det = backend.slogdet(x[..., :k, :k])
            ok = xp.logical_and(ok, xp.logical_and(sign > 0, xp.isfinite(log_det)))
        return ok, log_det


class MultivariateNormal(_MatrixBase):
    """N(mean, cov) on R^D: mean [..., D], cov [..., D, D] symmetric positive definite.

    Math: log p(x) = -(x - mean)' cov^-1 (x - mean) / 2 - log|cov| / 2 - D log(2 pi) / 2.
    Draws are reparameterised: mean + L z with L L' = cov and z standard normal.

    Example:
        >>> multivariate_normal([0.0, 0.0], [[1.0, 0.5], [0.5, 2.0]]).sample(gm.key(0))
    """

    name = "multivariate_normal"
    support = REAL
    event_rank = 1
    reparameterized = True

    def __init__(self, mean: Any, cov: Any, backend: Backend | None = None):
        mean_shape = _shape(mean)
        if len(mean_shape) < 1:
            raise ParameterError(f"multivariate_normal: parameter 'mean' must have shape "
                                 f"[..., D]; got a scalar {mean!r}.")
        _check_square(self.name, "cov", cov, mean_shape[-1])
        check_param(self.name, "mean", mean, lambda a: a == a, "free of NaN")
        _broadcast_batches(self.name, ("mean", mean_shape[:-1]), ("cov", _shape(cov)[:-2]))
        backend = backend or get_backend()
        super().__init__(backend, mean=as_param(mean, backend), cov=as_param(cov, backend))

    @property
    def batch_shape(self) -> tuple:
        return broadcast_shapes(tuple(self._params["mean"].shape[:-1]),
                                tuple(self._params["cov"].shape[:-2]))

    @property
    def event_shape(self) -> tuple:
        return (int(self._params["mean"].shape[-1]),)

    @functools.cached_property
    def scale_tril(self) -> Array:
        """The lower Cholesky factor L of cov."""
        return self.backend.cholesky(self._params["cov"])

    def _draw(self, key: Array, shape: tuple) -> Array:
        xp = self.xp
        mean = self._params["mean"]
        z = self.backend.normal(key, tuple(shape) + self.event_shape, mean.dtype)
        return mean + _matvec(xp, self.scale_tril, z)

    def log_prob(self, value: Any) -> Array:
        xp = self.xp
        x = self._value(value, integer=False)
        lower = self.scale_tril
        y = _matvec(xp, self._lower_inverse(lower), x - self._params["mean"])
        half_log_det = xp.sum(xp.log(_diagonal(xp, lower)), axis=-1)
        dim = self.event_shape[0]
        return -0.5 * xp.sum(y * y, axis=-1) - half_log_det - 0.5 * dim * LOG_2PI


class Dirichlet(Distribution):
    """Dirichlet(alpha) on the simplex of R^K: alpha [..., K], all > 0.

    Math: log p(x) = sum_k (alpha_k - 1) log x_k + lgamma(sum alpha) - sum_k lgamma(alpha_k).
    Drawn as normalised gammas, in log space (softmax of log-gammas) so that
    tiny alpha, whose gamma draws underflow, still gives a point of the simplex
    (coordinates floored at the smallest normal float, so never exactly 0).
    Values off the simplex (a negative entry, or a sum off 1 by more than
    sqrt(eps)) have log density -inf.

    Example:
        >>> dirichlet([1.0, 2.0, 3.0]).sample(gm.key(0))  # sums to 1
    """

    name = "dirichlet"
    support = SIMPLEX
    event_rank = 1

    def __init__(self, alpha: Any, backend: Backend | None = None):
        shape = _shape(alpha)
        if len(shape) < 1 or shape[-1] < 1:
            raise ParameterError(f"dirichlet: parameter 'alpha' must have shape [..., K] with "
                                 f"K >= 1; got shape {shape}.")
        check_param(self.name, "alpha", alpha, lambda a: (a > 0) & (a < math.inf),
                    "finite and > 0 in every entry")
        backend = backend or get_backend()
        super().__init__(backend, alpha=as_param(alpha, backend))

    @property
    def batch_shape(self) -> tuple:
        return tuple(self._params["alpha"].shape[:-1])

    @property
    def event_shape(self) -> tuple:
        return (int(self._params["alpha"].shape[-1]),)

    def _draw(self, key: Array, shape: tuple) -> Array:
        xp = self.xp
        log_g = log_gamma(key, self._params["alpha"], tuple(shape) + self.event_shape, self.backend)
        # Coordinates below the smallest normal float are raised to it rather than
        # underflowing to 0, where alpha < 1 has infinite density: the draw stays
        # on the simplex (to 1e-38) and its log density finite.
        tiny = float(xp.finfo(log_g.dtype).smallest_normal)
        return xp.maximum(xp.exp(log_softmax(log_g, axis=-1)), tiny)

    def log_prob(self, value: Any) -> Array:
        xp = self.xp
        alpha = self._params["alpha"]
        x = self._value(value, integer=False)
        tol = math.sqrt(float(xp.finfo(x.dtype).eps))
        on_simplex = xp.logical_and(xp.all(x >= 0, axis=-1),
                                    xp.abs(xp.sum(x, axis=-1) - 1.0) <= tol)
        positive = x > 0
        # (alpha - 1) log x; at x = 0: 0 for alpha = 1, -inf above, +inf below
        at_zero = xp.where(alpha == 1, 0.0, xp.where(alpha > 1, -math.inf, math.inf))
        terms = xp.where(positive, (alpha - 1.0) * xp.log(xp.where(positive, x, 1.0)), at_zero)
        norm = lgamma(xp.sum(alpha, axis=-1)) - xp.sum(lgamma(alpha), axis=-1)
        return xp.where(on_simplex, xp.sum(terms, axis=-1) + norm, -math.inf)


class Wishart(_MatrixBase):
    """Wishart(df, scale): D x D symmetric positive-definite matrices; df > D - 1.

    Math: log p(X) = (df - D - 1)/2 log|X| - tr(scale^-1 X)/2 - df D/2 log 2
    - df/2 log|scale| - log Gamma_D(df/2). Mean df * scale. Drawn by the
    Bartlett decomposition: X = (L A)(L A)' with L L' = scale, A lower
    triangular, A_ii = sqrt(chi2(df - i)) (chi2 as 2 Gamma), A_ij ~ N(0, 1) below.

    Example:
        >>> wishart(5.0, [[1.0, 0.0], [0.0, 1.0]]).sample(gm.key(0))
    """

    name = "wishart"
    support = POSITIVE_DEFINITE
    event_rank = 2

    def __init__(self, df: Any, scale: Any, backend: Backend | None = None):
        dim = _check_square(self.name, "scale", scale)
        check_param(self.name, "df", df, lambda a: (a > dim - 1) & (a < math.inf),
                    f"finite and > D - 1 = {dim - 1}")
        _broadcast_batches(self.name, ("df", _shape(df)), ("scale", _shape(scale)[:-2]))
        backend = backend or get_backend()
        super().__init__(backend, df=as_param(df, backend), scale=as_param(scale, backend))

    @property
    def batch_shape(self) -> tuple:
        return broadcast_shapes(tuple(self._params["df"].shape),
                                tuple(self._params["scale"].shape[:-2]))

    @property
    def event_shape(self) -> tuple:
        dim = int(self._params["scale"].shape[-1])
        return (dim, dim)

    @functools.cached_property
    def scale_tril(self) -> Array:
        """The lower Cholesky factor of the scale matrix."""
        return self.backend.cholesky(self._params["scale"])

    def _bartlett(self, key: Array, shape: tuple) -> Array:
        """The Bartlett factor A of `shape` + (D, D)."""
        xp, backend = self.xp, self.backend
        dim = self.event_shape[0]
        df = self._params["df"]
        dtype = self._params["scale"].dtype
        key_chi, key_normal = backend.split(key, 2)
        half_dof = 0.5 * (df[..., None] - xp.arange(dim, dtype=dtype))
        log_chi2 = math.log(2.0) + log_gamma(key_chi, half_dof, tuple(shape) + (dim,), backend)
        diag = xp.exp(0.5 * log_chi2)
        below = backend.normal(key_normal, tuple(shape) + (dim, dim), dtype)
        eye = xp.eye(dim, dtype=dtype)
        return below * xp.tril(xp.ones((dim, dim), dtype=dtype), k=-1) + eye * diag[..., None, :]

    def _draw(self, key: Array, shape: tuple) -> Array:
        xp = self.xp
        factor = xp.matmul(self.scale_tril, self._bartlett(key, shape))
        return xp.matmul(factor, _transpose(xp, factor))

    def _log_normaliser(self) -> Array:
        xp = self.xp
        dim = self.event_shape[0]
        df = self._params["df"]
        log_det_scale = 2.0 * xp.sum(xp.log(_diagonal(xp, self.scale_tril)), axis=-1)
        return (0.5 * df * dim * math.log(2.0) + 0.5 * df * log_det_scale
                + _log_multigamma(xp, 0.5 * df, dim))

    def log_prob(self, value: Any) -> Array:
        xp = self.xp
        x = self._value(value, integer=False)
        dim = self.event_shape[0]
        ok, log_det_x = self._symmetric_positive_definite(x)
        scale_inv = _cholesky_inverse(xp, self._lower_inverse(self.scale_tril))
        trace = xp.sum(scale_inv * _transpose(xp, x), axis=(-2, -1))
        df = self._params["df"]
        value = 0.5 * (df - dim - 1.0) * log_det_x - 0.5 * trace - self._log_normaliser()
        return xp.where(ok, value, -math.inf)


class InvWishart(Wishart):
    """Inverse Wishart(df, scale): X with X^-1 ~ Wishart(df, scale^-1); df > D - 1.

    Math: log p(X) = df/2 log|scale| - df D/2 log 2 - log Gamma_D(df/2)
    - (df + D + 1)/2 log|X| - tr(scale X^-1)/2. Mean scale / (df - D - 1)
    for df > D + 1. Drawn as (B B')^-1 = B'^-1 B^-1 with B = L A, L the
    Cholesky factor of scale^-1 and A a Bartlett factor.

    Example:
        >>> inv_wishart(5.0, [[1.0, 0.0], [0.0, 1.0]]).sample(gm.key(0))
    """

    name = "inv_wishart"

    @functools.cached_property
    def scale_tril(self) -> Array:
        """The lower Cholesky factor of scale^-1 (the Wishart being inverted)."""
        return self.backend.cholesky(self.backend.inv(self._params["scale"]))

    def _draw(self, key: Array, shape: tuple) -> Array:
        xp = self.xp
        factor = xp.matmul(self.scale_tril, self._bartlett(key, shape))
        inverse = self._lower_inverse(factor)
        return xp.matmul(_transpose(xp, inverse), inverse)

    def log_prob(self, value: Any) -> Array:
        xp = self.xp
        x = self._value(value, integer=False)
        dim = self.event_shape[0]
        ok, log_det_x = self._symmetric_positive_definite(x)
        safe_x = xp.where(ok[..., None, None], x, xp.eye(dim, dtype=x.dtype))
        trace = xp.sum(self._params["scale"] * _transpose(xp, self.backend.inv(safe_x)),
                       axis=(-2, -1))
        df = self._params["df"]
        # _log_normaliser uses log|scale^-1| = -log|scale|, as this density wants.
        value = -0.5 * (df + dim + 1.0) * log_det_x - 0.5 * trace - self._log_normaliser()
        return xp.where(ok, value, -math.inf)


def _cholesky_inverse(xp, lower_inverse: Array) -> Array:
    """(L L')^-1 = L'^-1 L^-1 from L^-1."""
    return xp.matmul(_transpose(xp, lower_inverse), lower_inverse)


def _broadcast_batches(dist: str, *named_shapes: tuple) -> None:
    try:
        broadcast_shapes(*(s for _, s in named_shapes))
    except ValueError:
        shown = ", ".join(f"'{n}' batch {s}" for n, s in named_shapes)
        raise ParameterError(f"{dist}: parameter batch shapes do not broadcast: {shown}. "
                             "Leading (batch) axes must broadcast; event axes are the "
                             "trailing ones.") from None


# ---------------------------------------------------------------------------
# constructors

def multivariate_normal(mean: Any, cov: Any) -> MultivariateNormal:
    """N(mean, cov): mean [..., D], cov [..., D, D] symmetric positive definite."""
    return MultivariateNormal(mean, cov)


def dirichlet(alpha: Any) -> Dirichlet:
    """Dirichlet(alpha) on the simplex; alpha [..., K] > 0."""
    return Dirichlet(alpha)


def wishart(df: Any, scale: Any) -> Wishart:
    """Wishart(df, scale [..., D, D]); df > D - 1, scale symmetric positive definite."""
    return Wishart(df, scale)


def inv_wishart(df: Any, scale: Any) -> InvWishart:
    """Inverse Wishart(df, scale [..., D, D]); df > D - 1, scale symmetric positive definite."""
    return InvWishart(df, scale)
