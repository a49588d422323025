"""``qtfl security curve`` and ``qtfl teleport --eve ...`` through the real entry point."""

from __future__ import annotations

import json

import pytest

from qtfl.cli import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> dict:
    main(list(argv))
    return json.loads(capsys.readouterr().out)


def test_security_curve_json(capsys: pytest.CaptureFixture[str]) -> None:
    out = run(
        capsys,
        "security",
        "curve",
        "--fidelity",
        "1.0",  # a perfect link: any check error is Eve's, so detection is 1 - (3/4)^n
        "--check-counts",
        "3,12",
        "--eavesdropper-fractions",
        "1",
        "--trials",
        "800",
        "--json",
    )
    assert [p["n_checks"] for p in out["points"]] == [3, 12]
    for p in out["points"]:
        assert p["predicted"] == pytest.approx(1 - 0.75 ** p["n_checks"])
        assert abs(p["simulated"] - p["predicted"]) <= 4 * p["stderr"]


def test_teleport_with_random_basis_eve_is_detected(capsys: pytest.CaptureFixture[str]) -> None:
    out = run(
        capsys,
        "teleport",
        "--payload-bits",
        "20000",
        "--fidelity",
        "1.0",
        "--eve",
        "intercept-resend",
        "--eve-fraction",
        "1",
        "--check-fraction",
        "0.05",
        "--json",
    )
    assert out["detected"] is True and out["payload_sent"] is False
    assert out["qber_bound"] == 0.0 and out["p_value"] == 0.0
    assert abs(out["qber"] - 0.25) < 0.03
    assert out["eve_bits_correct"] is None and out["eve_information_bits"] is None


def test_teleport_with_tap_reports_leakage(capsys: pytest.CaptureFixture[str]) -> None:
    out = run(
        capsys,
        "teleport",
        "--payload-bits",
        "20000",
        "--fidelity",
        "0.99",
        "--eve",
        "tap",
        "--alpha",
        "0.001",
        "--json",
    )
    assert out["payload_sent"] is True and out["detected"] is False
    assert abs(out["eve_bits_correct"] / 20000 - 0.5) < 4 * (0.25 / 20000) ** 0.5
    assert out["eve_information_bits"] < out["eve_information_bound_bits"]


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["teleport", "--payload-bits", "10", "--check-fraction", "0"], "check_fraction"),
        (["teleport", "--payload-bits", "10", "--alpha", "1"], "alpha"),
        (["teleport", "--payload-bits", "10", "--eve", "mitm", "--eve-fraction", "1.5"],
         "eavesdropper fraction"),
        (["teleport", "--payload-bits", "10", "--eve", "wiretap"], "'wiretap' is not one of"),
        (["teleport", "--payload-bits", "10", "--eve-basis", "y"], "'y' is not one of"),
        (["teleport", "--eavesdropper", "mitm", "--eavesdropper-basis", "z"],
         "basis applies to intercept-resend only"),
        (["teleport", "--eavesdropper", "tap", "--eavesdropper-fraction", "0.5"],
         "fraction applies to intercept-resend and mitm only"),
        (["security", "curve", "--check-counts", "2.5"], "integers"),
    ],
)
def test_bad_input_exits_2_with_one_message(
    capsys: pytest.CaptureFixture[str], argv: list[str], words: str
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err
