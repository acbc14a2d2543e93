"""The two-mode toy of Paper A (Theorems 4.1/4.2): SGDA mode collapse vs nSGDA mode recovery,
simulated over a sweep of settings with all settings and seeds of a dimension batched in one
tensor program, updates from the optimizer registry's parts.

The package imports nothing itself: the report reads toy results (ganopt.toy.report) without
torch; the simulation is ganopt.toy.simulate, the jobs ganopt.toy.job."""
