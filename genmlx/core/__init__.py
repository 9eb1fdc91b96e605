"""Core data: addresses, choicemaps, selections, traces and diffs."""

from genmlx.core.address import to_path
from genmlx.core.choicemap import EMPTY, ChoiceMap, choicemap
from genmlx.core.diff import (
    NO_CHANGE, UNKNOWN_CHANGE, DictDiff, NoChange, SequenceDiff, UnknownChange,
)
from genmlx.core.selection import ALL, NONE, Selection, select
from genmlx.core.trace import Trace

__all__ = ["ALL", "EMPTY", "NONE", "NO_CHANGE", "UNKNOWN_CHANGE", "ChoiceMap", "DictDiff",
           "NoChange", "SequenceDiff", "Selection", "Trace", "UnknownChange", "choicemap",
           "select", "to_path"]
