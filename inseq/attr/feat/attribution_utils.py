"""inseq 0.7 path of the keyword router and token helpers (temporary re-export)."""

from ..contrast import join_token_ids
from ..routing import extract_args

__all__ = ["extract_args", "join_token_ids"]
