"""from_dict checks the basic type of every field of a job config and names the key it rejects."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from ganopt.config import from_dict, require_keys
from ganopt.errors import ConfigError


@dataclass(frozen=True)
class Inner:
    lr: float = 0.1
    betas: tuple[float, float] = (0.5, 0.9)


@dataclass(frozen=True)
class Job:
    seed: int
    name: str = "a"
    verbose: bool = False
    cap: float | None = None
    hidden: tuple[int, ...] = (8,)
    seeds: list[int] = field(default_factory=list)
    lr: dict[str, float] = field(default_factory=dict)
    inner: Inner = field(default_factory=Inner)


def test_good_values_are_converted() -> None:
    job = from_dict(Job, {"seed": 3, "cap": 1, "hidden": [4, 4], "seeds": [1], "lr": {"g": 1},
                          "inner": {"betas": [0, 1]}})
    assert job == Job(seed=3, cap=1.0, hidden=(4, 4), seeds=[1], lr={"g": 1.0}, inner=Inner(betas=(0.0, 1.0)))
    assert isinstance(job.seed, int) and isinstance(job.cap, float) and isinstance(job.lr["g"], float)


@pytest.mark.parametrize("change, message", [
    ({"seed": "1"}, "'job.seed' must be an integer, got str '1'"),
    ({"seed": 1.5}, "'job.seed' must be an integer, got float 1.5"),
    ({"seed": 3.0}, "'job.seed' must be an integer, got float 3.0"),  # a count or seed is an int, as the schema says
    ({"seed": True}, "'job.seed' must be an integer, got bool True"),
    ({"name": 5}, "'job.name' must be a string, got int 5"),
    ({"verbose": 1}, "'job.verbose' must be true or false, got int 1"),
    ({"cap": "big"}, "'job.cap' must be a number, got str 'big'"),
    ({"hidden": 8}, "'job.hidden' must be a list, got int 8"),
    ({"hidden": [8, "x"]}, "'job.hidden[1]' must be an integer, got str 'x'"),
    ({"seeds": ["1"]}, "'job.seeds[0]' must be an integer, got str '1'"),
    ({"lr": {"g": "fast"}}, "'job.lr.g' must be a number, got str 'fast'"),
    ({"lr": [1]}, "'job.lr' must be a mapping, got list [1]"),
    ({"inner": {"betas": [0.5]}}, "'job.inner.betas' must be a list of 2 items, got list [0.5]"),
    ({"inner": 3}, "'job.inner' must be a mapping, got int"),
    ({"seed": None}, "'job.seed' must be an integer, got NoneType None"),
])
def test_wrong_types_name_the_key(change: dict, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        from_dict(Job, {"seed": 0} | change, where="job")
    assert message in str(err.value)


def test_missing_required_keys_are_named() -> None:
    with pytest.raises(ConfigError, match=r"'job' lacks the required key\(s\) 'seed'"):
        from_dict(Job, {}, where="job")
    with pytest.raises(ConfigError, match=r"'cmd job' lacks the required key\(s\) 'a', 'b'"):
        require_keys({}, "cmd job", a=str, b=int)
    with pytest.raises(ConfigError, match=r"'cmd job.b' must be an integer"):
        require_keys({"a": "x", "b": "y"}, "cmd job", a=str, b=int)
