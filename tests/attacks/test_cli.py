"""qtfl attack invert / membership: JSON keys, and bad input exits 2 with one message."""

from __future__ import annotations

import json

import pytest

from qtfl.cli import main


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> dict:  # type: ignore[type-arg]
    main(list(args))
    return json.loads(capsys.readouterr().out)


def test_attack_invert_json(capsys: pytest.CaptureFixture[str]) -> None:
    out = _run(capsys, "privacy", "invert", "--dataset", "digits", "--model", "mlp", "--json")
    for key in ("psnr_db", "ssim", "mse", "label_accuracy", "baseline_psnr_db"):
        assert key in out
    assert out["psnr_db"] >= 40.0


def test_attack_membership_json(capsys: pytest.CaptureFixture[str]) -> None:
    out = _run(capsys, "privacy", "membership", "--target", "client", "--json")
    assert 0.0 <= out["auc"] <= 1.0 and 0.0 <= out["tpr_at_1pct_fpr"] <= 1.0


def test_unsupported_attack_exits_2_naming_the_requirement(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["privacy", "invert", "--model", "convnet", "--method", "analytic"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "fully connected first layer" in err and "Traceback" not in err
