"""Evaluation metrics: FID/KID with offline feature sources, mode metrics of 2-D mixtures."""
