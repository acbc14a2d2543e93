"""The two-mode toy of Paper A (Theorems 4.1/4.2): SGDA mode collapse vs nSGDA mode recovery,
simulated over a sweep of settings with all settings and seeds of a dimension batched in one
tensor program, updates from the optimizer registry's parts."""

from ganopt.toy.config import TOY_OPTIMIZERS, ToyConfig
from ganopt.toy.job import toy_compare_job, toy_theorem_job
from ganopt.toy.simulate import Trajectory, simulate

__all__ = ["TOY_OPTIMIZERS", "ToyConfig", "Trajectory", "simulate", "toy_compare_job", "toy_theorem_job"]
