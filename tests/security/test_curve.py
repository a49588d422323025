"""The library behind ``qtfl security curve`` and ``qtfl teleport --eve``."""

from __future__ import annotations

import math

import pytest

from qtfl.channel.teleportation import verified_transfer
from qtfl.errors import InputError
from qtfl.security.curve import parse_numbers, security_curve


def test_security_curve_rows_match_the_closed_form_on_a_perfect_link() -> None:
    out = security_curve(check_counts="2,8", fractions="0.5,1", trials=1500, seed=3).as_dict()
    assert out["eve"] == "intercept-resend" and out["link_qber"] == 0.0
    assert len(out["points"]) == 4
    for p in out["points"]:
        closed = 1 - (1 - p["eve_fraction"] / 4) ** p["n_checks"]
        assert p["predicted"] == pytest.approx(closed)
        assert abs(p["simulated"] - closed) <= 4 * p["stderr"]


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"check_counts": "4,2.5"}, "integers"),
        ({"check_counts": "0"}, "integers"),
        ({"check_counts": "a,b"}, "checks"),
        ({"fractions": "0.5,1.2"}, "eve fraction"),
        ({"eve": "mitm", "eve_basis": "z"}, "basis applies to intercept-resend only"),
        ({"alpha": 1.0}, "alpha"),
        ({"eve": "tap"}, "eve"),
        ({"fidelity": 1.3}, "fidelity"),
    ],
)
def test_security_curve_bad_input(kwargs: dict, words: str) -> None:
    with pytest.raises(InputError, match=words):
        security_curve(trials=10, **kwargs)


def test_parse_numbers() -> None:
    assert parse_numbers("x", "1, 2,4") == [1.0, 2.0, 4.0]
    assert parse_numbers("x", [0.5]) == [0.5]


def test_verified_transfer_fields() -> None:
    honest = verified_transfer(bits=20_000, fidelity=1.0, seed=0, eavesdropper="tap")
    assert honest.transfer.payload_sent and not honest.transfer.verdict.detected
    assert honest.payload_bit_errors == 0 and honest.bit_error_rate == 0.0
    leak = honest.transfer.leakage
    assert leak is not None and abs(leak.agreement - 0.5) <= 4 * math.sqrt(0.25 / 20_000)
    caught = verified_transfer(
        bits=20_000, fidelity=1.0, seed=0, eavesdropper="intercept-resend", eavesdropper_basis="z"
    )
    assert caught.transfer.verdict.detected and not caught.transfer.payload_sent
    assert caught.payload_bit_errors is None and caught.bit_error_rate is None
    assert caught.transfer.leakage is None
    assert caught.transfer.verdict.qber_bound == 0.0 and caught.transfer.verdict.p_value == 0.0
    with pytest.raises(InputError, match="check_fraction"):
        verified_transfer(bits=10, fidelity=1.0, seed=0, check_fraction=1.0)
    with pytest.raises(InputError, match="eavesdropper fraction"):
        verified_transfer(
            bits=10, fidelity=1.0, seed=0, eavesdropper="mitm", eavesdropper_fraction=2.0
        )
