"""LIME's sampling and surrogate fit, as inseq 0.7 runs them (token masking, similarity weights, ``Ridge``).

inseq 0.7 ran Captum's ``LimeBase`` on the input embeddings of each step: every token is masked with probability
``mask_prob`` (special tokens never, by design), each sample is weighted by how many input elements it leaves
unchanged, and a ``sklearn.linear_model.Ridge()`` is fit with the flattened perturbed embeddings as features, so
there is one coefficient per (token, embedding dimension). The functions here do the same on samples shared by all
positions of a batch: one forward per perturbation gives the attributed function at every position.
"""

from __future__ import annotations

import torch

__all__ = ["lime_masks", "lime_surrogate"]


def lime_masks(maskable: torch.Tensor, n_samples: int, mask_prob: float, generator: torch.Generator) -> torch.Tensor:
    """``(n_samples, batch, len)`` boolean masks: each maskable token is masked with probability ``mask_prob``.

    Example:
        >>> m = lime_masks(torch.tensor([[True, False]]), 1000, 0.3, torch.Generator().manual_seed(0))
        >>> bool(m[..., 1].any()), 0.25 < float(m[..., 0].float().mean()) < 0.35
        (False, True)
    """
    draws = torch.rand(n_samples, *maskable.shape, generator=generator)
    return (draws < mask_prob) & maskable.unsqueeze(0)


def lime_surrogate(
    features: torch.Tensor, values: torch.Tensor, unchanged: torch.Tensor, alpha: float = 1.0
) -> torch.Tensor:
    """Fit inseq 0.7's LIME surrogate and return its ``(len, hidden)`` coefficients.

    Args:
        features: ``(n_samples, len, hidden)`` perturbed input embeddings of the attributed tokens.
        values: ``(n_samples,)`` attributed function on each sample.
        unchanged: ``(n_samples,)`` number of unchanged tokens of each sample; the sample weight is the number of
            unchanged input elements (``unchanged * hidden``), as inseq's similarity kernel counts them.
        alpha: ``Ridge`` regularisation (inseq 0.7: sklearn's default, 1.0).

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> emb = torch.randn(3, 4, generator=g, dtype=torch.float64)
        >>> keep = torch.rand(40, 3, generator=g) > 0.3
        >>> feats = torch.where(keep.unsqueeze(-1), emb, torch.zeros(4, dtype=torch.float64))
        >>> coef = lime_surrogate(feats, 2.0 * keep[:, 0].double(), keep.sum(-1))
        >>> coef.shape, bool(coef[0].norm() > coef[1:].norm(dim=-1).max())
        (torch.Size([3, 4]), True)
    """
    from sklearn.linear_model import Ridge

    n, length, hidden = features.shape
    weights = unchanged.double() * hidden
    ridge = Ridge(alpha=alpha)
    ridge.fit(
        features.reshape(n, -1).double().numpy(),
        values.double().numpy(),
        sample_weight=weights.numpy(),
    )
    return torch.from_numpy(ridge.coef_).reshape(length, hidden).float()
