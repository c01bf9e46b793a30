"""The linear surrogate of source ablations: a LASSO from keep-masks to the response's logit-probability.

As ContextCite fits it: the masks are standardised (each column to zero mean and unit variance; a constant column is
left unscaled), the target is divided by the number of response tokens, scikit-learn's ``Lasso(alpha=0.01)`` is fit
with an intercept, and its coefficients are mapped back to the masks' own scale and multiplied by the number of
tokens again. The weight of a source is then the change of the logit-probability the surrogate predicts when the
source is kept rather than removed.

Example:
    >>> rng = np.random.default_rng(0)
    >>> masks = rng.random((200, 5)) < 0.5
    >>> y = masks @ np.array([3.0, 0.0, -2.0, 0.0, 1.0]) + 0.5
    >>> weights, bias = fit_surrogate(masks, y, n_tokens=1, alpha=1e-4)
    >>> np.round(weights, 2).tolist(), round(bias, 2)
    ([3.0, 0.0, -2.0, 0.0, 1.0], 0.5)
"""

from __future__ import annotations

import numpy as np

from ..utils.errors import InvalidArgumentError


def fit_surrogate(
    masks: np.ndarray, targets: np.ndarray, n_tokens: int, alpha: float = 0.01
) -> tuple[np.ndarray, float]:
    """``(weights, bias)`` of the LASSO surrogate ``targets ≈ masks @ weights + bias``.

    Args:
        masks: ``(n_ablations, n_sources)`` keep-masks.
        targets: ``(n_ablations,)`` logit-probabilities of the response under each mask.
        n_tokens: Number of response tokens the targets cover (the regularisation is per token).
        alpha: LASSO regularisation.
    """
    try:
        from sklearn.linear_model import Lasso
    except ImportError as err:  # pragma: no cover - scikit-learn is in the test environment
        raise ImportError("method='ablation' needs scikit-learn: pip install 'inseq[sklearn]'.") from err
    if masks.shape[0] < 2:
        raise InvalidArgumentError(f"The surrogate needs at least 2 ablations, got {masks.shape[0]}.")
    x = masks.astype(np.float32).astype(np.float64)
    mean = x.mean(0)
    scale = x.std(0)
    scale[scale == 0] = 1.0
    lasso = Lasso(alpha=alpha, random_state=0, fit_intercept=True)
    lasso.fit((x - mean) / scale, np.asarray(targets, dtype=np.float64) / n_tokens)
    weights = lasso.coef_ / scale
    bias = float(lasso.intercept_ - (mean / scale) @ lasso.coef_)
    return weights * n_tokens, bias * n_tokens
