"""The one registry of training regimes: name -> `Regime`, in listing order.

Every other module of this package defines one regime as `REGIME`; `BUILTIN` below imports
each by name (explicit imports, never a dynamic import: importing robusteye only defines
things). A regime is one module here plus its line in `BUILTIN`; a regime defined elsewhere
(a plugin, a test) is added with `register_regime` and touches no file of robusteye.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from robusteye.errors import UsageError
from robusteye.train.regimes import (
    adversarial,
    augment,
    certified,
    fgsm_rs,
    pgd,
    standard,
    trades,
)
from robusteye.train.regimes.base import Regime

_REGISTERED: dict[str, Regime] = {}


class _Registry(Mapping[str, Regime]):
    """A read-only live view of the registered regimes, ordered by `Regime.rank`."""

    def __getitem__(self, name: str) -> Regime:
        return _REGISTERED[name]

    def __iter__(self) -> Iterator[str]:
        return iter(_REGISTERED)

    def __len__(self) -> int:
        return len(_REGISTERED)

    def __repr__(self) -> str:
        return f"REGIMES({', '.join(_REGISTERED)})"


#: every registered regime by name, in listing order (a live view: registrations show)
REGIMES: Mapping[str, Regime] = _Registry()


def register_regime(regime: Regime) -> Regime:
    """Add `regime` under its name (refused if the name is taken or no word); returns it."""
    name = regime.name
    if not name or not name.replace("-", "").replace("_", "").isalnum():
        raise ValueError(f"a regime needs a name of letters, digits, - and _, got {name!r}")
    if name in _REGISTERED:
        raise ValueError(f"a regime named {name!r} is registered already")
    ranked = sorted([*_REGISTERED.values(), regime], key=lambda r: r.rank)  # stable
    _REGISTERED.clear()
    _REGISTERED.update((r.name, r) for r in ranked)
    return regime


def unregister_regime(name: str) -> None:
    """Remove the regime `name` (what a test that registered one does when it ends)."""
    _REGISTERED.pop(name, None)


def get_regime(name: str) -> Regime:
    """The regime `name`; an unknown name is a `UsageError` naming the known ones."""
    try:
        return _REGISTERED[name]
    except (KeyError, TypeError):
        raise UsageError(f"regime must be one of {', '.join(_REGISTERED)}, got {name!r}") from None


def attack_regimes() -> tuple[str, ...]:
    """The regimes that attack the current model while training (the robust check's)."""
    return tuple(name for name, r in _REGISTERED.items() if r.attacks_model)


def report_rank(name: str) -> float:
    """Where variants of regime `name` come in a report (unknown names last)."""
    regime = _REGISTERED.get(name)
    return float("inf") if regime is None else regime.report_rank


#: the regimes robusteye ships, registered on import (their order is `Regime.rank`'s)
BUILTIN: tuple[Regime, ...] = (
    standard.REGIME,
    augment.REGIME,
    adversarial.REGIME,
    certified.REGIME,
    pgd.REGIME,
    trades.REGIME,
    fgsm_rs.REGIME,
)
for _regime in BUILTIN:
    register_regime(_regime)
