"""Parameter kinds and the search space they make up.

CONTRACT (written by the lead; the core helper fills in the behaviour and may add helpers, but
keeps these names and field meanings, because every shell depends on them):

- ``Value`` is what a trial receives for one parameter: int, float or str. YAML booleans in a
  categorical become the strings ``"true"``/``"false"`` (what a command line would receive).
- ``Params`` maps parameter name -> Value, in the space's declaration order.
- ``IntParam``/``FloatParam``: inclusive ranges, ``scale`` linear or log (log needs min > 0);
  ``step``/``count`` only matter for grid enumeration.
- ``CategoricalParam``: unordered values (strings, or mixed); ``DiscreteParam``: an ordered list of
  numbers (``rate=0.001,0.01,0.1``), which the GP may treat as ordinal.
- ``Space``: the ordered tuple of parameters plus behaviour: ``sample(rng, n)``, ``grid()``
  (deterministic order, documented), ``grid_size()``, ``contains(params)``, ``canonical(params)``
  (a hashable key so "already tried" can be checked), ``is_finite()``.
- ``parse_param_flag(text)`` parses the CLI forms ``name=MIN:MAX[:linear|log][:int|float]`` and
  ``name=a,b,c``; raises SpecError naming the flag.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeAlias

Value: TypeAlias = int | float | str
Params: TypeAlias = dict[str, Value]
Scale: TypeAlias = Literal["linear", "log"]


@dataclass(frozen=True, slots=True)
class IntParam:
    """An integer range, both ends included."""

    name: str
    min: int
    max: int
    scale: Scale = "linear"
    step: int | None = None


@dataclass(frozen=True, slots=True)
class FloatParam:
    """A real range, both ends included; a grid needs ``step`` or ``count``."""

    name: str
    min: float
    max: float
    scale: Scale = "linear"
    step: float | None = None
    count: int | None = None


@dataclass(frozen=True, slots=True)
class CategoricalParam:
    """Unordered choices."""

    name: str
    values: tuple[Value, ...]


@dataclass(frozen=True, slots=True)
class DiscreteParam:
    """An ordered list of numbers, e.g. learning rates to try."""

    name: str
    values: tuple[float | int, ...]


Param: TypeAlias = IntParam | FloatParam | CategoricalParam | DiscreteParam


@dataclass(frozen=True, slots=True)
class Space:
    """The parameters of a search, in declaration order."""

    params: tuple[Param, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)
