"""Integrity optimizer: cheapest of raw / purification / FEC / both per delivered payload bit."""

from __future__ import annotations

import numpy as np
import pytest

from qtfl.channel.fec import FEC_CODES, FecCodec, binary_symmetric_channel
from qtfl.channel.integrity import (
    BLOCK_FAILURE_BOUND,
    fec_pairs_per_payload_bit,
    fec_residual_bound,
    plan_integrity,
)
from qtfl.channel.retransmission import deliver_with_retransmission
from qtfl.errors import InputError
from qtfl.quantum.noise import WernerPair


def test_candidates_carry_the_closed_form_costs() -> None:
    f = 0.9
    plan = plan_integrity(WernerPair(f), target_bit_error_rate=1e-6, max_rounds=1)
    raw = next(o for o in plan.candidates if o.method == "raw")
    assert raw.pairs_per_payload_bit == 1.0
    assert raw.residual_bit_error_rate == pytest.approx(2 * (1 - f) / 3)
    one = next(o for o in plan.candidates if o.method == "purification")
    # first DEJMPS round on a Werner pair = BBPSSW: p = F^2 + 2F(1-F)/3 + 5((1-F)/3)^2
    r = (1 - f) / 3
    success = f**2 + 2 * f * (1 - f) / 3 + 5 * r**2
    assert one.fidelity == pytest.approx((f**2 + r**2) / success)
    assert one.pairs_per_payload_bit == pytest.approx(2 / success)
    fec = next(o for o in plan.candidates if o.method == "fec")
    code = FEC_CODES[fec.code or ""]
    assert fec.pairs_per_payload_bit == pytest.approx(code.n / (code.k - 32) / (1 - 0.01))


@pytest.mark.parametrize("fidelity", [0.95, 0.90])
def test_fec_wins_at_realistic_fidelity_for_a_strict_target(fidelity: float) -> None:
    plan = plan_integrity(WernerPair(fidelity), target_bit_error_rate=1e-6)
    best = plan.best
    assert best.residual_bit_error_rate <= 1e-6
    assert best.code is not None  # purification alone needs many costly rounds
    feasible = [o for o in plan.candidates if o.residual_bit_error_rate <= 1e-6]
    assert all(best.pairs_per_payload_bit <= o.pairs_per_payload_bit for o in feasible)


def test_lenient_target_needs_nothing() -> None:
    plan = plan_integrity(WernerPair(0.95), target_bit_error_rate=0.05)
    assert plan.best.method == "raw"
    assert plan.best.pairs_per_payload_bit == 1.0


def test_pairs_beyond_every_code_are_purified_first() -> None:
    strongest = max(c.max_bit_error_rate for c in FEC_CODES.values())
    f = 1 - 1.5 * (strongest + 0.02)  # Werner bit error 2(1-F)/3 = strongest + 0.02
    pair = WernerPair(f)
    assert pair.teleported_bit_error > strongest
    plan = plan_integrity(pair, target_bit_error_rate=1e-6)
    assert plan.best.rounds >= 1
    assert plan.best.channel_bit_error_rate <= strongest or plan.best.method == "purification"


def test_fec_cost_bound_holds_in_a_real_delivery() -> None:
    p = WernerPair(0.95).teleported_bit_error
    plan = plan_integrity(WernerPair(0.95), target_bit_error_rate=1e-6, max_rounds=0)
    codec = FecCodec(plan.best.code or "", bit_error_rate=p)
    rng = np.random.default_rng(12)
    bits = rng.integers(0, 2, 200_000, dtype=np.uint8)

    def bsc(x: np.ndarray, g: np.random.Generator) -> np.ndarray:
        return binary_symmetric_channel(x, p=p, rng=g)

    out = deliver_with_retransmission(codec, bits, bsc, rng=rng)
    assert out.delivered
    lower = codec.code.n / (codec.code.k - 32)  # no resend at all
    assert lower <= out.pairs_per_payload_bit
    # at most 1% of the blocks resent (the code's calibration) on top of one pass
    one_pass = out.layout.channel_bits / bits.size
    assert out.pairs_per_payload_bit <= one_pass / (1 - BLOCK_FAILURE_BOUND)
    assert one_pass <= fec_pairs_per_payload_bit(codec.code)


def test_residual_bound_formula() -> None:
    q = BLOCK_FAILURE_BOUND
    assert fec_residual_bound(max_retransmissions=0) == pytest.approx(q + q * 2.0**-32)
    assert fec_residual_bound(max_retransmissions=3) == pytest.approx(q**4 + q * 2.0**-32)


def test_unreachable_target_is_a_clear_error() -> None:
    with pytest.raises(InputError, match="no plan reaches residual bit error rate 1e-06"):
        plan_integrity(WernerPair(0.7), target_bit_error_rate=1e-6, max_rounds=0)
    with pytest.raises(InputError, match=r"target bit error rate must be in \(0, 0.5\]"):
        plan_integrity(WernerPair(0.9), target_bit_error_rate=0.0)


def test_teleport_with_fec_delivers_every_bit_through_stim() -> None:
    from qtfl.channel.integrity import teleport_fec_summary

    out = teleport_fec_summary(bits=150_000, fidelity=0.9, fec="auto", seed=3)
    assert out["fec"] == "ldpc-1/2"
    assert out["residual_bit_error_rate"] == 0.0
    assert out["undelivered_blocks"] == 0
    assert out["pairs_per_payload_bit"] == out["bell_pairs"] / 150_000
    raw = teleport_fec_summary(bits=150_000, fidelity=0.9, fec="none", seed=3)
    p = 2 * (1 - 0.9) / 3
    assert abs(raw["residual_bit_error_rate"] - p) < 4 * np.sqrt(p * (1 - p) / 150_000)
    assert raw["pairs_per_payload_bit"] == 1.0


def test_link_fec_summary_scales_the_link_cost_by_the_code() -> None:
    from qtfl.channel.integrity import link_fec_summary
    from qtfl.network.cost import evaluate_link

    report = evaluate_link(preset="valivarthi2020")
    per_qubit = report.pairs_per_update / report.payload_qubits
    raw = link_fec_summary(report, fec="none")
    assert raw["pairs_per_payload_bit"] == pytest.approx(per_qubit)
    assert raw["residual_bit_error_rate"] == pytest.approx(report.expected_qber)
    coded = link_fec_summary(report, fec="auto")
    code = FEC_CODES[coded["fec"]]
    assert code.max_bit_error_rate >= report.expected_qber
    assert coded["pairs_per_payload_bit"] == pytest.approx(
        per_qubit * fec_pairs_per_payload_bit(code)
    )
    assert coded["residual_bit_error_rate"] <= 1e-6
    assert coded["pair_fidelity"] == report.pair_fidelity  # the link report is kept


def test_cli_fec_flags_report_the_figures_and_refuse_weak_codes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import json

    from qtfl.cli import main

    main(["teleport", "--payload-bits", "20000", "--fidelity", "0.95", "--fec", "auto", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert out["fec"] == "ldpc-2/3"
    assert {"residual_bit_error_rate", "pairs_per_payload_bit"} <= set(out)
    main(["link", "--preset", "valivarthi2020", "--fec", "auto", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert {"residual_bit_error_rate", "pairs_per_payload_bit"} <= set(out)
    with pytest.raises(SystemExit) as stop:
        main(["teleport", "--payload-bits", "1000", "--fidelity", "0.9", "--fec", "ldpc-5/6"])
    assert stop.value.code == 2
    assert "use rate <= 0.5 (ldpc-1/2) or fec=auto" in capsys.readouterr().err.replace("\n", " ")


def test_plan_summary_and_cli_report_the_cheapest_plan(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from qtfl.channel.integrity import plan_summary
    from qtfl.cli import main

    summary = plan_summary(fidelity=0.8, target_bit_error_rate=1e-6)
    feasible = [v for v in summary["candidates"].values() if v is not None]
    assert summary["pairs_per_payload_bit"] == min(feasible)
    assert summary["candidates"]["raw/-"] is None  # raw misses the target
    main(["integrity", "--fidelity", "0.8", "--json"])
    assert json.loads(capsys.readouterr().out) == json.loads(json.dumps(summary))
