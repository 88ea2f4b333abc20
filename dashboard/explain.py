"""Why a budget buys the recall it does: the Why page's numbers and sentences. They live in
:mod:`bet.report.findings` (plain numpy/pandas), shared with the offline HTML report so the page
and the report can never disagree."""

from __future__ import annotations

from bet.report import (
    HEAD,
    allocation_by_bin,
    by_frequency,
    features,
    features_frame,
    head_share,
    narrative,
    quartile_contrast,
    spearman,
)

__all__ = [
    "HEAD", "allocation_by_bin", "by_frequency", "features", "features_frame", "head_share", "narrative",
    "quartile_contrast", "spearman",
]  # fmt: skip
