"""L2: MCMC as fused, compiled sweeps over one chain or many.

The step is the handler path's own MH step, written as a pure function of a
trace and a key: propose (`regenerate` over a selection, or `edit` with a custom
proposal), draw log u, and keep the proposal where log u < log alpha with a
leaf-by-leaf `where` over the whole trace (no host sync, no Python bool). A block
of steps is one `scan` of that step inside one compiled function; many chains
are the step mapped over a leading chain axis with the backend's `vmap`. The
host sees one transfer per block: the recorded addresses' values and the
acceptances of the block, written into preallocated NumPy arrays, so memory
stays flat however long the run.

`compiled=False` runs the same block functions without the compiler (the
backend's eager scan and vmap): same keys, same numbers, which is what the
tests compare against. The per-step key schedule is: block b uses
fold_in(run key, b); its steps use split(block key, steps); chain c of a step
uses split(step key, chains)[c].

Block sizes: JAX compiles a scan once whatever its length, so a block is the
whole run up to `block` steps; MLX unrolls a scan under compile (its compile
time grows with the block), so its default block is short and the host loops.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from functools import partial

from genmlx import _tree
from genmlx._backend import Backend, get_backend
from genmlx._keys import resolve_key
from genmlx.core.address import Path, to_path
from genmlx.core.choicemap import EMPTY, ChoiceMap
from genmlx.compile.compiled import CompiledCalls
from genmlx.core.pytree import flatten, tree_index, tree_where, unflatten
from genmlx.core.selection import Selection
from genmlx.core.trace import Trace
from genmlx.errors import ArgumentError, GenMLXError
from genmlx.gfi.edit import ProposalEdit
from genmlx.gfi.interface import GenerativeFunction
from genmlx.inference.mcmc.collect import progress_bar

__all__ = ["FusedResult", "mh"]

_DEFAULT_BLOCK = {"jax": 5000, "mlx": 16, "numpy": 1000}


@dataclass(frozen=True)
class FusedResult:
    """What a fused sweep returns.

    Attributes:
        samples: {address path: NumPy array [chains, draws, ...]} of the recorded
            addresses (chains = 1 for a single chain).
        acceptance: NumPy [chains], the fraction of accepted steps after burn-in.
        final_trace: the last state: a trace (one chain), or for many chains one
            trace whose every leaf carries a leading chain axis (`chain(c)` gives
            chain c as an ordinary trace).
        num_chains: the number of chains (None for a single chain run).
    """

    samples: dict
    acceptance: Any
    final_trace: Any
    num_chains: int | None

    def chain(self, c: int) -> Trace:
        """The final trace of chain `c`."""
        if self.num_chains is None:
            if c != 0:
                raise IndexError(f"chain {c} of a single-chain run")
            return self.final_trace
        return tree_index(self.final_trace, c)

    def draws(self, address: Any) -> Any:
        """The recorded values of `address`, NumPy [chains, draws, ...]."""
        path = to_path(address)
        if path not in self.samples:
            raise GenMLXError(f"fused.mh: address {address!r} was not recorded; recorded: "
                              f"{[p if len(p) > 1 else p[0] for p in self.samples]} "
                              "(pass record=[...] to choose)")
        return self.samples[path]


def mh(model: GenerativeFunction, args: tuple, observations: Any = EMPTY, *,
       selection: Selection | None = None, proposal: GenerativeFunction | None = None,
       proposal_args: tuple = (), num_samples: int, burn: int = 0, thin: int = 1,
       num_chains: int | None = None, record: Any = None, block: int | None = None,
       init: Any = None, key: Any = None, compiled: bool = True,
       progress: bool | None = None) -> FusedResult:
    """Metropolis-Hastings as fused compiled sweeps.

    Math: per step, propose t' (resample `selection` from the prior, weight =
    regenerate's MH log-ratio; or `proposal(trace, *proposal_args)`, weight =
    update weight + log q(discard; t') - log q(u; t)), and keep t' when
    log u < weight.

    Args:
        model, args, observations: the target p(latents | observations).
        selection: the addresses resampled from the prior (prior-proposal MH).
        proposal: a custom proposal generative function called as
            proposal(trace, *proposal_args); exactly one of selection/proposal.
        num_samples: recorded draws per chain, after `burn` steps, one every `thin`.
        num_chains: None for one chain; C for C independent chains, run together.
        record: addresses to record (default: every unobserved choice of the
            initial trace).
        block: steps per compiled call (default per backend; see the module doc).
        init: a choicemap of latent values every chain starts from (the rest of
            the initial state is drawn from the prior), e.g. {"slope": 0.0}.
        key: the run's key.
        compiled: False runs the same sweep through the eager handler path.
        progress: a progress bar over blocks (None: only at a terminal).

    Returns:
        A `FusedResult` (`draws(address)` as NumPy [chains, draws, ...]).
    """
    if (selection is None) == (proposal is None):
        raise ArgumentError("fused.mh: give exactly one of selection= (prior proposal) and "
                            "proposal= (a custom proposal generative function)")
    _check_counts(num_samples, burn, thin)
    backend = get_backend()
    observations = _as_choicemap(observations)
    start = observations if init is None else observations.merge(_as_choicemap(init))
    k_init, k_run = backend.split(resolve_key(key), 2)
    step_key = (repr(selection), proposal, tuple(proposal_args))
    step = _mh_step(selection, proposal, tuple(proposal_args))
    runner = _Runner(model, args, start, step, step_key, num_chains, compiled)
    state = runner.initial(k_init)
    paths = _record_paths(state, observations, record)
    total = burn + num_samples * thin
    size = int(block or _DEFAULT_BLOCK.get(backend.name, 256))
    chains = num_chains or 1
    out = {p: None for p in paths}
    accepted = host_zeros(chains)
    done, index, block_index = 0, 0, 0
    bar = progress_bar(total, progress, "fused mh", "step")
    try:
        while done < total:
            steps = min(size, total - done)
            block_key = backend.fold_in(k_run, block_index)
            state, values, accepts = runner.block(state, block_key, steps, paths)
            index = _store(out, paths, values, accepts, accepted, done, burn, thin,
                           num_samples, chains, num_chains is not None, index)
            done += steps
            block_index += 1
            if bar is not None:
                bar.update(steps)
    finally:
        if bar is not None:
            bar.close()
    return FusedResult(out, accepted / max(total - burn, 1), state, num_chains)


# ---------------------------------------------------------------------------
# the step as a pure function of a trace and a key

def _mh_step(selection: Selection | None, proposal: GenerativeFunction | None,
             proposal_args: tuple) -> Callable[[Trace, Any], tuple[Trace, Any]]:
    def step(trace: Trace, key: Any) -> tuple[Trace, Any]:
        backend = get_backend()
        k_propose, k_accept = backend.split(key, 2)
        if selection is not None:
            proposed, log_alpha, _ = trace.gen_fn.regenerate(trace, selection, key=k_propose)
        else:
            request = ProposalEdit(proposal, proposal, proposal_args, proposal_args)
            proposed, log_alpha, _, _ = trace.gen_fn.edit(trace, request, key=k_propose)
        accept = backend.xp.log(backend.uniform(k_accept, ())) < log_alpha
        return tree_where(backend.xp, accept, proposed, trace), accept

    return step


class _Runner:
    """The run's state as a trace (many chains: one trace whose leaves carry a
    leading chain axis) and its block functions, compiled through a shared cache
    so a second run of the same model and settings compiles nothing."""

    def __init__(self, model: GenerativeFunction, args: tuple, observations: ChoiceMap,
                 step: Callable, step_key: Any, num_chains: int | None, compiled: bool):
        self.model, self.args, self.observations = model, args, observations
        self.step, self.step_key, self.num_chains = step, step_key, num_chains
        self.compiled = compiled
        self.backend = get_backend()

    def _call(self, op: str, static: Any, inputs: tuple, key: Any, body: Callable) -> Any:
        if self.compiled:
            return _CALLS(op, static, inputs, key, body)
        return body(*inputs, key)

    # -- the initial state ------------------------------------------------------------------
    def initial(self, key: Any) -> Trace:
        model, chains, backend = self.model, self.num_chains, self.backend

        def init(args: tuple, observations: ChoiceMap, k: Any) -> Trace:
            if chains is None:
                return model.generate(args, observations, key=k).trace
            box: list = []

            def one(chain_key: Any) -> list:
                leaves, skeleton = flatten(model.generate(args, observations,
                                                          key=chain_key).trace, share=False)
                box.append(skeleton)
                return leaves

            vmap = backend.vmap if self.compiled else _loop_vmap
            stacked = vmap(one)(backend.split(k, chains))
            return unflatten(box[0], stacked)

        return self._call("init", (model, chains), (self.args, self.observations), key, init)

    # -- one block --------------------------------------------------------------------------
    def block(self, state: Trace, block_key: Any, steps: int, paths: tuple) -> tuple:
        """`steps` steps from `state`: (new state, recorded values [steps, (chains,) ...],
        accepts [steps, (chains)])."""
        step, chains, backend = self.step, self.num_chains, self.backend

        def run_block(state: Trace, k: Any) -> tuple:
            leaves, skeleton = flatten(state, share=False)

            def one(ls: list, key: Any) -> tuple:
                trace = unflatten(skeleton, ls)
                new, accept = step(trace, key)
                new_leaves, new_skeleton = flatten(new, share=False)
                if new_skeleton != skeleton:
                    raise GenMLXError(
                        "fused.mh: a step changed the trace's structure (addresses, "
                        "distributions or static values); fused sweeps need a model whose "
                        "structure does not depend on sampled values. Use "
                        "gm.inference.mcmc.mh (the eager driver) for this model.")
                return new_leaves, tuple(new[_address(p)] for p in paths) + (accept,)

            # the eager reference loops over steps and chains in Python: the handler
            # path step by step, whatever the backend's own scan and vmap would compile
            vmap = backend.vmap if self.compiled else _loop_vmap
            scan = backend.scan if self.compiled else partial(Backend.scan, backend)
            if chains is None:
                body = one
            else:
                def body(ls: list, key: Any) -> tuple:
                    return vmap(one)(ls, backend.split(key, chains))

            final, ys = scan(body, leaves, backend.split(k, steps))
            return unflatten(skeleton, final), ys

        static = (self.step_key, chains, steps, paths)
        state, ys = self._call("block", static, (state,), block_key, run_block)
        backend.eval(ys)
        return state, ys[:-1], ys[-1]


_CALLS = CompiledCalls("fused.mh")


def _loop_vmap(fn: Callable) -> Callable:
    """`fn` mapped over the leading axis of every argument leaf by a Python loop."""

    def mapped(*args: Any) -> Any:
        flat = [_tree.flatten(a) for a in args]
        count = int(flat[0][0][0].shape[0])
        outs = [_tree.flatten(fn(*(_tree.unflatten(treedef, [leaf[i] for leaf in leaves])
                                   for leaves, treedef in flat)))
                for i in range(count)]
        xp = get_backend().xp
        return _tree.unflatten(outs[0][1], [xp.stack(col) for col in
                                            zip(*(leaves for leaves, _ in outs))])

    return mapped


def _address(path: Path) -> Any:
    return path if len(path) > 1 else path[0]


# ---------------------------------------------------------------------------
# host side

def host_zeros(n: int) -> Any:
    return _np().zeros(n, dtype="float64")


def _store(out: dict, paths: tuple, values: tuple, accepts: Any, accepted: Any, done: int,
           burn: int, thin: int, num_samples: int, chains: int, many: bool, index: int) -> int:
    """Copy the block's kept draws into the preallocated arrays; returns the next index.

    Values arrive as [steps, ...] (one chain) or [steps, chains, ...] (many)."""
    np = _np()
    backend = get_backend()
    acc = backend.to_numpy(accepts).reshape(-1, chains)
    steps = acc.shape[0]
    positions = done + np.arange(steps)
    after_burn = positions >= burn
    accepted += acc[after_burn].sum(axis=0)
    keep = after_burn & ((positions - burn) % thin == thin - 1)
    kept = int(keep.sum())
    for path, value in zip(paths, values):
        arr = backend.to_numpy(value)
        arr = arr.reshape((steps, chains) + arr.shape[2 if many else 1:])
        if out[path] is None:
            out[path] = np.empty((chains, num_samples) + arr.shape[2:], dtype=arr.dtype)
        out[path][:, index:index + kept] = np.swapaxes(arr[keep], 0, 1)
    return index + kept


def _np() -> Any:
    from genmlx._backend import host_numpy

    return host_numpy()


def _record_paths(trace: Trace, observations: ChoiceMap, record: Any) -> tuple:
    if record is not None:
        return tuple(to_path(a) for a in record)
    observed = {p for p, _ in observations.leaves()}
    return tuple(p for p, _ in trace.choices.leaves() if p not in observed)


def _as_choicemap(x: Any) -> ChoiceMap:
    if x is None:
        return EMPTY
    if isinstance(x, dict):
        return ChoiceMap.from_mapping(x)
    if not isinstance(x, ChoiceMap):
        raise TypeError(f"fused.mh: observations must be a ChoiceMap or dict, got "
                        f"{type(x).__name__}")
    return x


def _check_counts(num_samples: Any, burn: Any, thin: Any) -> None:
    for name, value, low in (("num_samples", num_samples, 1), ("burn", burn, 0), ("thin", thin, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ArgumentError(f"fused.mh: {name} must be an int >= {low}, got {value!r}")

