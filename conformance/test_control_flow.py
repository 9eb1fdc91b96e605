"""Control flow on every backend (scan, fori_loop, while_loop, cond, select, is_tracer):
each equals a hand-written NumPy loop, eagerly and inside the backend's compile.

Compiled graphs are kept tiny (a few steps): MLX unrolls loops under mx.compile and
compiles slowly on CPU.
"""

from typing import NamedTuple

import numpy as np
import pytest

import genmlx as gm
from genmlx import Capability
from genmlx.errors import CapabilityError, ShapeError


class Obs(NamedTuple):
    u: object
    v: object


def as_np(tree):
    """The same pytree with every leaf a float64/int NumPy array (structure kept)."""
    if tree is None:
        return None
    if isinstance(tree, dict):
        return {k: as_np(v) for k, v in tree.items()}
    if isinstance(tree, tuple) and hasattr(type(tree), "_fields"):
        return type(tree)(*(as_np(v) for v in tree))
    if isinstance(tree, (tuple, list)):
        return type(tree)(as_np(v) for v in tree)
    return np.asarray(gm.get_backend().to_numpy(tree) if gm.get_backend().is_array(tree) else tree)


def assert_tree_close(actual, expected, rtol=1e-5, atol=1e-6):
    """Same container types, same keys, leaves equal to tolerance and of the same shape."""
    actual = as_np(actual)
    if expected is None or isinstance(expected, (dict, tuple, list)):
        assert type(actual) is type(expected), f"{type(actual)} != {type(expected)}"
    if expected is None:
        return
    if isinstance(expected, dict):
        assert set(actual) == set(expected)
        for k in expected:
            assert_tree_close(actual[k], expected[k], rtol, atol)
    elif isinstance(expected, (tuple, list)):
        assert len(actual) == len(expected)
        for a, e in zip(actual, expected):
            assert_tree_close(a, e, rtol, atol)
    else:
        expected = np.asarray(expected)
        assert actual.shape == expected.shape, f"shape {actual.shape} != {expected.shape}"
        np.testing.assert_allclose(actual.astype(np.float64), expected, rtol=rtol, atol=atol)


# -- scan ---------------------------------------------------------------------------

U = np.arange(12, dtype=np.float32).reshape(4, 3) / 10.0
V = np.array([[1.0, -1.0], [0.5, 2.0], [-3.0, 0.0], [1.5, 1.5]], dtype=np.float32)


def scan_step(xp):
    def step(carry, x):
        h, stats = carry
        h = 0.5 * h + x.u
        stats = {"n": stats["n"] + 1.0, "s": stats["s"] * 0.9 + x.v}
        return (h, stats), {"h2": h * 2.0, "pair": (xp.sum(h), stats["s"][0])}
    return step


def scan_by_hand(u, v):
    h, n, s = np.zeros(3), 0.0, np.zeros(2)
    h2, sums, firsts = [], [], []
    for t in range(len(u)):
        h = 0.5 * h + u[t]
        n, s = n + 1.0, s * 0.9 + v[t]
        h2.append(h * 2.0)
        sums.append(h.sum())
        firsts.append(s[0])
    carry = (h, {"n": np.float64(n), "s": s})
    return carry, {"h2": np.stack(h2), "pair": (np.array(sums), np.array(firsts))}


def scan_args(b):
    init = (b.asarray(np.zeros(3, np.float32)), {"n": b.asarray(0.0), "s": b.asarray(np.zeros(2, np.float32))})
    return init, Obs(b.asarray(U), b.asarray(V))


def test_scan_equals_hand_loop_over_tuple_dict_namedtuple_pytrees(backend):
    b = backend
    init, xs = scan_args(b)
    carry, ys = b.scan(scan_step(b.xp), init, xs)
    assert_tree_close((carry, ys), scan_by_hand(U, V))
    carry, ys = b.scan(scan_step(b.xp), init, xs, length=4)  # a consistent length is accepted
    assert_tree_close(ys, scan_by_hand(U, V)[1])


def test_compiled_scan_equals_eager(backend):
    b = backend
    init, xs = scan_args(b)
    eager = b.scan(scan_step(b.xp), init, xs)
    compiled = b.compile(lambda init, u, v: b.scan(scan_step(b.xp), init, Obs(u, v)))(init, *xs)
    assert_tree_close(compiled, as_np(eager))
    assert_tree_close(compiled, scan_by_hand(U, V))


def fib_step(carry, _):
    a, c = carry
    return [c, a + c], None


def test_scan_without_xs_runs_length_steps_and_none_ys_stay_none(backend):
    b = backend
    carry, ys = b.scan(fib_step, [b.asarray(0.0), b.asarray(1.0)], None, length=10)
    assert ys is None
    assert_tree_close(carry, [np.float64(55.0), np.float64(89.0)])
    counter = lambda c, _: (c + 1, c * 3)
    carry, ys = b.scan(counter, b.asarray(2), length=4)
    assert_tree_close((carry, ys), (np.int64(6), np.array([6, 9, 12, 15])))


def test_scan_length_errors(backend):
    b = backend
    with pytest.raises((ValueError, TypeError)):
        b.scan(fib_step, [b.asarray(0.0), b.asarray(1.0)], None)
    with pytest.raises(ValueError):
        b.scan(lambda c, x: (c, x), b.asarray(0.0), b.asarray(U), length=5)


def test_scan_of_length_zero_returns_init_and_empty_stacks(backend):
    b = backend
    init = b.asarray([1.0, 2.0])
    carry, ys = b.scan(lambda c, x: (c + x, {"y": c * x}), init, b.asarray(np.zeros((0, 2), np.float32)))
    assert_tree_close((carry, ys), (np.array([1.0, 2.0]), {"y": np.zeros((0, 2))}))


def test_long_eager_scan_crosses_many_evaluation_blocks(backend):
    # 300 steps: MLX starts evaluating every 64 steps; the numbers must not notice.
    b = backend
    xs = np.linspace(-1.0, 1.0, 300, dtype=np.float32)
    carry, ys = b.scan(lambda c, x: (0.99 * c + x, c), b.asarray(0.0), b.asarray(xs))
    c, expect = np.float32(0.0), []
    for x in xs:  # float32, in the same order as the step: near-equal, not just close
        expect.append(c)
        c = np.float32(0.99) * c + x
    assert_tree_close((carry, ys), (np.float64(c), np.array(expect)), rtol=1e-5, atol=1e-5)


def test_carry_that_changes_shape_is_refused(backend):
    b = backend
    with pytest.raises((ShapeError, TypeError)):
        b.scan(lambda c, x: (b.xp.concat([c, c]), x), b.asarray([1.0]), b.asarray(U))
    with pytest.raises((ShapeError, TypeError)):
        b.fori_loop(0, 2, lambda i, c: (c, c), b.asarray([1.0]))


# -- loops ----------------------------------------------------------------------------

W = np.array([0.5, -1.0, 2.0, 3.0, 0.25, -0.5], dtype=np.float32)


def fori_body(b, w):
    xp = b.xp

    def body(i, carry):
        acc, prod = carry
        fi = xp.astype(i, b.float_dtype)
        return acc + fi * w[i], {"p": prod["p"] * (1.0 + 0.1 * fi)}
    return body


def fori_by_hand(lower, upper):
    acc, p = 0.0, 1.0
    for i in range(lower, upper):
        acc += i * float(W[i])
        p *= 1.0 + 0.1 * i
    return (np.float64(acc), {"p": np.float64(p)})


def test_fori_loop_equals_hand_loop_eager_and_compiled(backend):
    b = backend
    init = (b.asarray(0.0), {"p": b.asarray(1.0)})
    w = b.asarray(W)
    assert_tree_close(b.fori_loop(1, 6, fori_body(b, w), init), fori_by_hand(1, 6))
    assert_tree_close(b.fori_loop(3, 3, fori_body(b, w), init), fori_by_hand(3, 3))
    compiled = b.compile(lambda init, w: b.fori_loop(1, 4, fori_body(b, w), init))(init, w)
    assert_tree_close(compiled, fori_by_hand(1, 4))


def halve_until_small(b):
    cond = lambda c: c[1] > 1.0
    body = lambda c: (c[0] + 1, c[1] / 2.0)
    return cond, body


def test_while_loop_eager_equals_hand_loop(backend):
    b = backend
    cond, body = halve_until_small(b)
    n, x = b.while_loop(cond, body, (b.asarray(0), b.asarray(100.0)))
    assert_tree_close((n, x), (np.int64(7), np.float64(100.0 / 128)))
    n, x = b.while_loop(cond, body, (b.asarray(0), b.asarray(0.5)))  # zero iterations
    assert_tree_close((n, x), (np.int64(0), np.float64(0.5)))


def test_while_loop_inside_compile_runs_or_says_why_not(backend):
    b = backend
    cond, body = halve_until_small(b)
    run = b.compile(lambda n, x: b.while_loop(cond, body, (n, x)))
    if b.has(Capability.COMPILED_WHILE):
        assert_tree_close(run(b.asarray(0), b.asarray(100.0)), (np.int64(7), np.float64(100.0 / 128)))
    else:
        with pytest.raises(CapabilityError, match="while_loop inside mx.compile.*compiled_while"):
            run(b.asarray(0), b.asarray(100.0))


# -- branches and selection ---------------------------------------------------------

def branches(xp):
    true_fn = lambda x, s: {"y": x * s, "t": (xp.sum(x),)}
    false_fn = lambda x, s: {"y": x - s, "t": (xp.max(x),)}
    return true_fn, false_fn


X3 = np.array([1.0, -2.0, 4.0], dtype=np.float32)


def test_cond_with_array_pred_takes_each_branch_eager_and_compiled(backend):
    b = backend
    t, f = branches(b.xp)
    x, s = b.asarray(X3), b.asarray(3.0)
    expect = {True: {"y": X3 * 3.0, "t": (np.float64(X3.sum()),)},
              False: {"y": X3 - 3.0, "t": (np.float64(X3.max()),)}}
    compiled = b.compile(lambda p, x, s: b.cond(p, t, f, x, s))
    for p in (True, False):
        pred = b.asarray(X3.sum() > 0) if p else b.asarray(X3.sum() < 0)
        assert_tree_close(b.cond(pred, t, f, x, s), expect[p])
        assert_tree_close(compiled(pred, x, s), expect[p])


def test_cond_with_python_bool_runs_only_the_taken_branch(backend):
    b = backend

    def boom(x):
        raise AssertionError("the branch not taken ran")

    assert_tree_close(b.cond(True, lambda x: x + 1.0, boom, b.asarray(X3)), X3 + 1.0)
    assert_tree_close(b.cond(False, boom, lambda x: x * 2.0, b.asarray(X3)), X3 * 2.0)


def test_select_broadcasts_a_row_pred_against_leading_axes(backend):
    b = backend
    rng = np.random.default_rng(0)
    a = {"z": rng.normal(size=(4, 3)).astype(np.float32), "w": np.arange(4, dtype=np.float32)}
    c = {"z": rng.normal(size=(4, 3)).astype(np.float32), "w": -np.arange(4, dtype=np.float32)}
    pred = np.array([True, False, False, True])
    to_b = lambda d: {k: b.asarray(v) for k, v in d.items()}
    # Rows, not trailing-axis broadcasting: a [4] pred against [4, 3] leaves picks rows.
    expect = {"z": np.where(pred[:, None], a["z"], c["z"]), "w": np.where(pred, a["w"], c["w"])}
    assert_tree_close(b.select(b.asarray(pred), to_b(a), to_b(c)), expect)
    compiled = b.compile(lambda p, x, y: b.select(p, x, y))
    assert_tree_close(compiled(b.asarray(pred), to_b(a), to_b(c)), expect)
    assert_tree_close(b.select(False, to_b(a), to_b(c)), c)
    with pytest.raises((ShapeError, ValueError, TypeError)):
        b.select(b.asarray(pred), to_b(a), (b.asarray(c["z"]),))


def test_batched_cond_selects_per_row_like_select(backend):
    b = backend
    x = b.asarray(np.arange(6, dtype=np.float32).reshape(3, 2))
    out = b.cond(b.asarray([True, False, True]), lambda x: x + 10.0, lambda x: -x, x)
    assert_tree_close(out, np.array([[10.0, 11.0], [-2.0, -3.0], [14.0, 15.0]]))


# -- tracer detection and gradients -----------------------------------------------------

def test_is_tracer_only_true_for_abstract_jax_values(backend):
    b = backend
    x = b.asarray([1.0, 2.0])
    assert b.is_tracer(x) is False and b.is_tracer(1.0) is False
    seen = []

    def f(y):
        seen.append(b.is_tracer(y))
        return y * 2.0

    b.eval(b.compile(f)(x))
    assert seen == [b.name == "jax"]
    if b.name == "jax":
        seen.clear()
        b.grad(lambda y: b.xp.sum(f(y)))(x)
        assert seen == [True]


def test_grad_flows_through_scan(grad_backend):
    b = grad_backend

    def final(a):
        c, ys = b.scan(lambda c, x: (a * c + x, c), b.asarray(1.0), b.asarray([1.0, 2.0, 3.0]))
        return c + b.xp.sum(ys)

    # c3 = a^3 + a^2 + 2a + 3 and sum(ys) = c0 + c1 + c2 = a^2 + 2a + 4, so
    # d/da (c3 + sum ys) = 3a^2 + 4a + 4 = 6.75 at a = 0.5
    assert_tree_close(b.grad(final)(b.asarray(0.5)), np.float64(6.75))
