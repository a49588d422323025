"""The per-attacker table: each row against its closed forms (4 sigma, fixed seed)."""

from __future__ import annotations

import math

import pytest

from qtfl.security.comparison import compare_eavesdroppers


def close(x: float, p: float, n: int) -> bool:
    return abs(x - p) <= 4 * math.sqrt(max(p * (1 - p), 1e-12) / n) + 1e-12


def test_attack_table_rows_match_closed_forms() -> None:
    f, n, trials = 0.2, 20_000, 1000
    out = compare_eavesdroppers(
        fidelity=0.97, fraction=f, n_checks=60, trials=trials, payload_bits=n
    ).as_dict()
    rows, q = out["attackers"], out["link_qber"]
    for name, r in rows.items():
        assert close(r["detect_simulated"], r["detect_predicted"], trials), name
    assert rows["none"]["detect_predicted"] <= 0.01  # false alarm <= alpha
    assert rows["none"]["eve_agreement"] is None
    assert close(rows["tap"]["eve_agreement"], 0.5, n)
    z, x, mitm = rows["intercept-resend-z"], rows["intercept-resend-x"], rows["mitm"]
    assert close(z["payload_bit_error"], q, n)  # a Z-basis Eve does not disturb the payload
    assert close(z["eve_known_fraction"], f, n) and close(mitm["eve_known_fraction"], f, n)
    assert close(z["eve_agreement"], f + (1 - f) / 2, n)
    assert close(x["payload_bit_error"], (1 - f) * q + f / 2, n)
    assert mitm["check_error_rate"] == pytest.approx((1 - f) * q + f / 2)
