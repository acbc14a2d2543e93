"""How one claim is judged: its effect on a set of units (seeds, inits) with the 95% interval and n,
the three-valued verdict against its threshold (ganopt.stats), and the same claim on the
first and on the second half of the units (disjoint), which shows whether a verdict is stable."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ganopt.stats import INCONCLUSIVE, SKIPPED, verdict


@dataclass(frozen=True)
class Measure:
    """A claim's effect on a set of units (seeds, inits) with its 95% interval and n."""

    effect: float
    low: float
    high: float
    n: int


@dataclass(frozen=True)
class Spec:
    """A claim's fixed text: id, our wording, study.md reference, scope, statistic, op and threshold."""

    id: str
    claim: str
    source: str
    scope: str
    statistic: str
    op: str
    threshold: float

    def row(self, m: Measure, verdict_: str, halves: tuple[str, str], note: str) -> dict:
        return {"id": self.id, "claim": self.claim, "source": self.source,
                "scope": self.scope, "statistic": self.statistic, "effect": m.effect, "ci_low": m.low,
                "ci_high": m.high, "n": m.n, "threshold": f"{self.op} {self.threshold:g}", "verdict": verdict_,
                "first_half": halves[0], "second_half": halves[1], "note": note}


NOTHING = Measure(math.nan, math.nan, math.nan, 0)


def skipped(spec: Spec, reason: str) -> dict:
    """A claim whose inputs are not part of the study."""
    return spec.row(NOTHING, SKIPPED, (SKIPPED, SKIPPED), reason)


def halves(units: Sequence) -> tuple[list, list]:
    """The sorted units split in two disjoint halves (the first one larger by one for odd n)."""
    ordered = sorted(units)
    cut = (len(ordered) + 1) // 2
    return ordered[:cut], ordered[cut:]


def _judge(spec: Spec, m: Measure, gate: str | None) -> str:
    found = verdict(m.low, m.high, spec.op, spec.threshold)
    return INCONCLUSIVE if gate and found != SKIPPED else found


def _brief(spec: Spec, m: Measure, gate: str | None) -> str:
    return f"{_judge(spec, m, gate)}: {m.effect:.3g} [{m.low:.3g}, {m.high:.3g}], n {m.n}"


def judged(spec: Spec, measure: Callable[[Sequence], Measure], units: Sequence, note: str,
           gate: Callable[[Sequence], str | None] = lambda units: None) -> dict:
    """A claim measured on all units and on each half of them; `gate` gives the reason (e.g. "not
    converged at this budget") that turns a verdict on those units into inconclusive, or None."""
    m, reason = measure(units), gate(units)
    parts = tuple(_brief(spec, measure(h), gate(h)) if h else SKIPPED for h in halves(units))
    return spec.row(m, _judge(spec, m, reason), parts, f"{reason}; {note}" if reason else note)
