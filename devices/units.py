"""Unit conversions into the vocabulary's canonical units, done here once (exact decimals)."""

from __future__ import annotations

from decimal import Decimal

# Glucose C6H12O6 molar mass 180.156 g/mol: 1 mmol/L = 18.0156 mg/dL.
MG_DL_PER_MMOL_L = Decimal("18.0156")
# 1 kPa = 7.500615758 mmHg (1 mmHg = 133.322387415 Pa).
MMHG_PER_KPA = Decimal("1000") / Decimal("133.322387415")


def glucose_kg_per_l_to_mg_dl(value: Decimal) -> Decimal:
    """GLS concentration in kg/L (SI base) → mg/dL: 1 kg/L = 10⁶ mg / 10 dL = 100 000 mg/dL."""
    return value * 100_000


def glucose_mol_per_l_to_mg_dl(value: Decimal) -> Decimal:
    """GLS concentration in mol/L → mmol/L (×1000) → mg/dL."""
    return value * 1000 * MG_DL_PER_MMOL_L


def mmol_l_to_mg_dl(value: Decimal) -> Decimal:
    return value * MG_DL_PER_MMOL_L


def kpa_to_mmhg(value: Decimal) -> Decimal:
    return value * MMHG_PER_KPA


def fahrenheit_to_celsius(value: Decimal) -> Decimal:
    return (value - 32) * 5 / 9


def rr_1024_to_ms(raw: int) -> float:
    """RR intervals are in 1/1024 s: 1024 → 1000 ms, 819 → 799.8046875 ms (exact in binary)."""
    return raw * 1000 / 1024
