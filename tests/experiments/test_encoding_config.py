"""Encoding, shots and qec in teleport channel sections: validation and config hashes."""

from __future__ import annotations

from typing import Any

import pytest

from qtfl.errors import InputError
from qtfl.experiments.config import parse_config

LINK = {"fidelity": 0.95, "pair_rate_hz": 1e6}


def _raw(uplink: dict[str, Any], **scenario: Any) -> dict[str, Any]:
    return {"scenarios": [{"name": "s", "uplink": {"kind": "teleport", "link": LINK, **uplink},
                           **scenario}]}  # fmt: skip


def test_bad_encoding_name_lists_the_allowed_names() -> None:
    with pytest.raises(InputError) as err:
        parse_config(_raw({"encoding": "qubit"}))
    message = str(err.value)
    assert "encoding" in message and "'qubit'" in message
    assert "allowed: basis, angle, amplitude, float32" in message
    assert "Traceback" not in message


def test_bad_qec_name_lists_the_allowed_codes() -> None:
    with pytest.raises(InputError, match="allowed: none, bit-flip, phase-flip, shor, five-qubit"):
        parse_config(_raw({"qec": "steane"}))


@pytest.mark.parametrize(
    ("uplink", "needle"),
    [
        ({"encoding": "angle", "bits": 8}, "'bits' sets the basis encoding's fixed point"),
        ({"encoding": "float32", "bits": 32}, "'bits' sets the basis encoding's fixed point"),
        ({"encoding": "amplitude", "fec": "auto"}, "fec protects bits"),
        ({"shots": 100}, "shots applies to the angle and amplitude encodings"),
        ({"encoding": "angle", "shots": 0}, "shots"),
    ],
)
def test_options_that_do_not_apply_are_refused(uplink: dict[str, Any], needle: str) -> None:
    with pytest.raises(InputError, match=needle):
        parse_config(_raw(uplink))


@pytest.mark.parametrize("uplink", [{"encoding": "angle"}, {"qec": "shor"}])
def test_pair_eavesdropper_on_unmodelled_payload_is_refused(uplink: dict[str, Any]) -> None:
    eve = [{"clients": [0], "kind": "intercept-resend"}]
    with pytest.raises(InputError, match="is modelled for basis-encoded bits without qec only"):
        parse_config(_raw(uplink, eavesdroppers=eve))


def test_tap_on_analog_payload_is_accepted() -> None:
    cfg = parse_config(_raw({"encoding": "angle"}, eavesdroppers=[{"clients": [0], "kind": "tap"}]))
    assert cfg.resolved_scenarios()[0].uplink.encoding == "angle"  # type: ignore[union-attr]


def test_defaults_leave_the_canonical_form_and_hash_unchanged() -> None:
    # Prepare: the same channel with the new options omitted and spelled at their defaults
    bare = parse_config(_raw({}))
    spelled = parse_config(_raw({"encoding": "basis", "qec": "none"}))
    other = parse_config(_raw({"encoding": "float32"}))
    # Execute
    dumped = bare.model_dump_json()
    # Assert: files written before these options keep their hash
    assert "encoding" not in dumped and "qec" not in dumped and "shots" not in dumped
    assert bare.config_hash() == spelled.config_hash()
    assert other.config_hash() != bare.config_hash()
    assert parse_config(other.model_dump(mode="json")).config_hash() == other.config_hash()
