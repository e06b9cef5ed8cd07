"""Evaluation: the unbiased pass@k estimator and friends, the benchmark runner and its reports."""

from mmrl.eval.passk import maj_at_k, mean_at_k, pass_at_k, pass_at_k_curve

__all__ = ["maj_at_k", "mean_at_k", "pass_at_k", "pass_at_k_curve"]
