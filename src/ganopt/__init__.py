"""ganopt: optimizing and learning in nonconvex-nonconcave games, as a reproducible study."""

__version__ = "0.1.0"
