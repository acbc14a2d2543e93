"""Evaluation metrics: FID/KID with offline feature sources, mode metrics of 2-D mixtures."""

# fid.json record keys where a larger value means a better generator (every other key: lower is better)
HIGHER_IS_BETTER = ("modes_covered", "high_quality_frac", "classes_covered", "classes_confident_frac")


def higher_is_better(metric: str) -> bool:
    """Whether a larger value of `metric` (a fid.json record key) means a better generator."""
    return metric in HIGHER_IS_BETTER
