"""Reading what a trace recorded at one address, and checking selections against traces.

The GFI says nothing about *which distribution* produced a choice, yet Gibbs,
elliptical slice sampling and exact enumeration need it (the support to
enumerate, the Gaussian prior's mean and standard deviation). `distribution_at`
asks, in order:

1. the generative function's own `distribution_at(trace, path)` hook, which any
   generative function (a combinator, a custom one) may define;
2. a distribution used as a generative function (its only address is the root);
3. Map/Unfold/Scan traces (sub-call i at address i) and Switch/Mask traces
   (the branch's addresses inlined), recursing into the sub-trace;
4. a `@gen` trace's per-address records, recursing into traced calls.
"""

from __future__ import annotations

from typing import Any, Iterable

from genmlx.combinators._chain import ChainInternal
from genmlx.combinators.map import MapInternal
from genmlx.combinators.mask import MaskInternal
from genmlx.combinators.switch import SwitchInternal
from genmlx.core.address import Path, show, to_path
from genmlx.core.choicemap import ChoiceMap
from genmlx.core.selection import Selection
from genmlx.core.trace import Trace
from genmlx.distributions.base import Distribution
from genmlx.errors import AddressError

__all__ = ["distribution_at", "selection_paths", "check_selection", "latent_paths",
           "as_paths", "paths_in_execution_order"]


def distribution_at(trace: Trace, address: Any) -> Distribution:
    """The distribution that produced the choice at `address` of `trace`.

    Raises:
        AddressError: the trace has no random choice at `address`, or its
            generative function does not say which distribution made it.
    """
    path = to_path(address) if address != () else ()
    hook = getattr(trace.gen_fn, "distribution_at", None)
    if hook is not None:
        return hook(trace, path)
    if isinstance(trace.gen_fn, Distribution):
        if path:
            raise AddressError(f"a {trace.gen_fn.name} trace has one choice, at the root; "
                               f"there is no address {show(path)}")
        return trace.gen_fn
    internal = trace.internal
    if isinstance(internal, (ChainInternal, MapInternal)) and path and \
            isinstance(path[0], int) and 0 <= path[0] < len(internal.subtraces):
        return distribution_at(internal.subtraces[path[0]], path[1:])
    if isinstance(internal, (SwitchInternal, MaskInternal)) and internal.subtrace is not None:
        return distribution_at(internal.subtrace, path)
    records = getattr(internal, "records", None)
    if records is None:
        raise AddressError(
            f"cannot read the distribution at address {show(path)} of a trace of "
            f"{getattr(trace.gen_fn, 'name', trace.gen_fn)}: define "
            "`distribution_at(trace, path)` on that generative function.")
    for k in range(len(path), 0, -1):
        rec = records.get(path[:k])
        if rec is None:
            continue
        sub = getattr(rec, "subtrace", None)
        if sub is not None:
            return distribution_at(sub, path[k:])
        if k == len(path):
            return rec.dist
        break
    raise AddressError(f"trace of {trace.gen_fn.name}: no random choice at address "
                       f"{show(path)}; its choices are {_some_addresses(trace.choices)}")


def selection_paths(selection: Selection) -> list[Path] | None:
    """The explicit paths of a `select(...)` selection; None for composed ones."""
    paths = getattr(selection, "paths", None)
    return paths() if callable(paths) else None


def as_paths(addresses: Any) -> list[Path]:
    """Paths from a `select(...)` selection, one address, or an iterable of addresses."""
    if isinstance(addresses, Selection):
        paths = selection_paths(addresses)
        if paths is None:
            raise TypeError(f"expected explicit addresses (select(...) or a list), got the "
                            f"composed selection {addresses!r}")
        return paths
    if isinstance(addresses, (str, int, tuple)):
        return [to_path(addresses)]
    return [to_path(a) for a in addresses]


def check_selection(trace: Trace, selection: Selection, who: str) -> None:
    """Raise AddressError naming every explicit path of `selection` absent from `trace`."""
    paths = selection_paths(selection)
    if paths is not None:
        check_paths(trace, paths, who, strict_hint=True)


def check_paths(trace: Trace, paths: Iterable[Path], who: str,
                strict_hint: bool = False) -> None:
    """Raise AddressError naming the paths (choices or traced calls) `trace` lacks."""
    missing = [p for p in paths if p not in trace.choices]
    if missing:
        hint = (" For an address that exists only on some control-flow paths pass "
                "strict=False." if strict_hint else "")
        raise AddressError(
            f"{who}: address(es) {', '.join(show(p) for p in missing)} named, but this trace "
            f"of {getattr(trace.gen_fn, 'name', trace.gen_fn)} has no such address (its "
            f"choices: {_some_addresses(trace.choices)}). Fix the address.{hint}")


def paths_in_execution_order(trace: Trace) -> list[Path]:
    """The choice addresses of `trace` in the order the model made them.

    `@gen` traces record that order; for other generative functions this is
    the choicemap's order (grouped by address prefix).
    """
    records = getattr(trace.internal, "records", None)
    if records is None:
        return trace.choices.addresses()
    out: list[Path] = []
    for path, rec in records.items():
        sub = getattr(rec, "subtrace", None)
        if sub is None:
            if rec is not None:
                out.append(path)
        else:
            out.extend(path + p for p in paths_in_execution_order(sub))
    return out


def latent_paths(trace: Trace, observations: ChoiceMap) -> list[Path]:
    """Every choice address of `trace` that `observations` does not constrain."""
    return [p for p in trace.choices.addresses() if p not in observations]


def _some_addresses(choices: ChoiceMap, limit: int = 12) -> str:
    paths = choices.addresses()
    shown = ", ".join(show(p) for p in paths[:limit])
    return shown + (", ..." if len(paths) > limit else "")
