"""Shared test data for the offline drift tests: a small tabular model's features, with optional drift."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["COUNTRIES", "frame"]

COUNTRIES = np.array(["FR", "DE", "ES", "US"])


def frame(rng: np.random.Generator, n: int, shift: float = 0.0, swap: bool = False) -> pd.DataFrame:
    """``n`` rows of amount (lognormal, multiplied by ``1 + shift``), age (normal), tenure (normal) and country
    (``swap`` reverses the country mix)."""
    shares = [0.5, 0.3, 0.15, 0.05]
    return pd.DataFrame(
        {
            "amount": rng.lognormal(3.0, 0.8, n) * (1.0 + shift),
            "age": rng.normal(40.0, 10.0, n),
            "tenure": rng.normal(5.0, 2.0, n),
            "country": COUNTRIES[rng.choice(4, size=n, p=shares[::-1] if swap else shares)],
        }
    )
