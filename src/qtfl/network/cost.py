r"""What one model update costs on a link: pairs, seconds, and the PLOB-limited time.

Cost model (expected values, no rounding):

* payload qubits :math:`Q = P\cdot b` for ``P`` parameters of ``b`` bits, one bit per qubit
  (basis encoding);
* check pairs are sacrificed from the same stream, a fraction ``c`` of all pairs used:
  :math:`Q/(1-c)` pairs after purification;
* purification to a target fidelity (recurrence, :mod:`qtfl.quantum.purification`) costs
  ``expected_pairs`` link pairs per purified pair, so
  ``pairs_per_update = Q/(1-c) × expected_pairs``;
* ``seconds_per_update = pairs_per_update / pair_rate_hz + latency_s``;
* ``source_pairs_per_update = pairs_per_update / success_probability`` (source pulses,
  i.e. channel uses);
* PLOB-limited time: the same pairs at the repeaterless bound
  :math:`-\log_2(1-\eta)` ebits per use and the same clock, plus the same latency.

Unknown figures (a preset without a published rate) stay ``None`` and a note says why.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from qtfl.errors import InputError, require_choice, require_int, require_range
from qtfl.network.link import FiberLink
from qtfl.network.presets import Preset, get_preset
from qtfl.quantum.noise import BellDiagonalPair
from qtfl.quantum.purification import (
    PROTOCOLS,
    Protocol,
    PurificationSchedule,
    purify_until,
)

#: Parameters of the quickstart model: the digits MLP 64 -> 64 -> 10 (weights + biases).
QUICKSTART_MODEL_PARAMS = 64 * 64 + 64 + 64 * 10 + 10
#: A ~100k-parameter model: the MNIST MLP 784 -> 128 -> 10 (101,770 parameters).
MLP_100K_PARAMS = 784 * 128 + 128 + 128 * 10 + 10


@dataclass(frozen=True)
class UpdateCost:
    """Pairs one update consumes on a link delivering pairs of a given state."""

    payload_qubits: int
    check_fraction: float
    purification: PurificationSchedule | None
    pairs_per_update: float

    @property
    def teleport_pair(self) -> BellDiagonalPair | None:
        """The (purified) pair payload and checks use, when purification was asked."""
        return None if self.purification is None else self.purification.pair


def update_cost(
    pair: BellDiagonalPair | None,
    *,
    model_params: int,
    bits_per_param: int = 16,
    check_fraction: float = 0.1,
    target_fidelity: float | None = None,
    protocol: Protocol = "dejmps",
    max_rounds: int = 10,
) -> UpdateCost:
    """Expected link pairs to teleport one update of ``model_params`` parameters.

    ``pair`` may be ``None`` (fidelity unknown) only when no ``target_fidelity`` is asked.
    """
    params = require_int("model_params", model_params, low=1)
    bits = require_int("bits_per_param", bits_per_param, low=1, high=64)
    c = require_range("check_fraction", check_fraction, low=0.0, high=1.0, high_open=True)
    qubits = params * bits
    schedule = None
    factor = 1.0
    if target_fidelity is not None:
        if pair is None:
            raise InputError("target_fidelity needs a known pair fidelity (--source-fidelity)")
        schedule = purify_until(
            pair, target_fidelity=target_fidelity, protocol=protocol, max_rounds=max_rounds
        )
        factor = schedule.expected_pairs
    return UpdateCost(
        payload_qubits=qubits,
        check_fraction=c,
        purification=schedule,
        pairs_per_update=qubits / (1.0 - c) * factor,
    )


@dataclass(frozen=True)
class LinkReport:
    """Everything ``qtfl link`` prints; unknown figures are ``None`` (see ``notes``)."""

    preset: str | None
    citation: str | None
    distance_km: float
    eta: float
    plob_ebits_per_use: float
    pairs_per_use: float
    plob_fraction_per_use: float
    pair_rate_hz: float | None
    pair_fidelity: float
    expected_qber: float
    latency_s: float
    payload_qubits: int
    check_fraction: float
    purification_rounds: int
    purified_fidelity: float | None
    purified_qber: float | None
    pairs_per_update: float
    source_pairs_per_update: float
    seconds_per_update: float | None
    plob_seconds_per_update: float | None
    notes: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        """Plain mapping for JSON/table output (notes as a list)."""
        d = dataclasses.asdict(self)
        d["notes"] = list(self.notes)
        return d


def link_report(
    link: FiberLink,
    *,
    model_params: int = QUICKSTART_MODEL_PARAMS,
    bits_per_param: int = 16,
    check_fraction: float = 0.1,
    target_fidelity: float | None = None,
    protocol: Protocol = "dejmps",
    max_rounds: int = 10,
    preset: Preset | None = None,
) -> LinkReport:
    """Physics of ``link`` and the cost of one update over it."""
    pair = link.pair
    cost = update_cost(
        pair,
        model_params=model_params,
        bits_per_param=bits_per_param,
        check_fraction=check_fraction,
        target_fidelity=target_fidelity,
        protocol=protocol,
        max_rounds=max_rounds,
    )
    plob = link.plob()
    rate = link.pair_rate_hz
    notes: list[str] = []
    if preset is not None:
        notes.append(preset.notes)
    seconds = plob_seconds = None
    if rate is None:
        notes.append(
            "pair rate unknown (no source rate given or published): seconds are not "
            "computed; supply --source-rate-hz"
        )
    else:
        seconds = cost.pairs_per_update / rate + link.latency_s
        assert plob.plob_ebits_per_s is not None
        plob_seconds = cost.pairs_per_update / plob.plob_ebits_per_s + link.latency_s
    purified = cost.teleport_pair
    return LinkReport(
        preset=None if preset is None else preset.name,
        citation=None if preset is None else preset.citation,
        distance_km=link.distance_km,
        eta=plob.eta,
        plob_ebits_per_use=plob.plob_ebits_per_use,
        pairs_per_use=plob.pairs_per_use,
        plob_fraction_per_use=plob.fraction_per_use,
        pair_rate_hz=rate,
        pair_fidelity=pair.fidelity,
        expected_qber=pair.qber,
        latency_s=link.latency_s,
        payload_qubits=cost.payload_qubits,
        check_fraction=cost.check_fraction,
        purification_rounds=0 if cost.purification is None else cost.purification.rounds,
        purified_fidelity=None if purified is None else purified.fidelity,
        purified_qber=None if purified is None else purified.qber,
        pairs_per_update=cost.pairs_per_update,
        source_pairs_per_update=cost.pairs_per_update / link.success_probability,
        seconds_per_update=seconds,
        plob_seconds_per_update=plob_seconds,
        notes=tuple(notes),
    )


def evaluate_link(
    *,
    preset: str | None = None,
    distance_km: float | None = None,
    attenuation_db_per_km: float | None = None,
    extra_loss_db: float | None = None,
    source: str | None = None,
    source_rate_hz: float | None = None,
    source_fidelity: float | None = None,
    detector_efficiency: float = 1.0,
    heralded: bool = False,
    memory_t2_s: float = math.inf,
    model_params: int | None = None,
    bits_per_param: int = 16,
    check_fraction: float = 0.1,
    target_fidelity: float | None = None,
    protocol: str = "dejmps",
    max_rounds: int = 10,
) -> LinkReport:
    """Build the link from a preset (arguments override it) or from physical parameters,
    and report it with the cost of one update: the library behind ``qtfl link``."""
    proto: Protocol = (
        "bbpssw" if require_choice("protocol", protocol, PROTOCOLS) == "bbpssw" else "dejmps"
    )
    notes: list[str] = []
    chosen: Preset | None = None
    if preset is not None:
        chosen = get_preset(preset)
        link = chosen.link(
            distance_km=distance_km,
            attenuation_db_per_km=attenuation_db_per_km,
            extra_loss_db=extra_loss_db,
            source=source,
            source_rate_hz=source_rate_hz,
            source_fidelity=source_fidelity,
            detector_efficiency=detector_efficiency,
            heralded=heralded,
            memory_t2_s=memory_t2_s,
        )
    elif distance_km is None:
        raise InputError("give a preset (--preset NAME, see --list) or a distance (--distance-km)")
    else:
        if source_fidelity is None:
            notes.append("source_fidelity not given: assumed 1 (an ideal source)")
        link = FiberLink(
            distance_km=distance_km,
            attenuation_db_per_km=0.2 if attenuation_db_per_km is None else attenuation_db_per_km,
            extra_loss_db=0.0 if extra_loss_db is None else extra_loss_db,
            source="end" if source is None else source,
            source_rate_hz=source_rate_hz,
            source_fidelity=1.0 if source_fidelity is None else source_fidelity,
            detector_efficiency=detector_efficiency,
            heralded=heralded,
            memory_t2_s=memory_t2_s,
        )
    report = link_report(
        link,
        model_params=QUICKSTART_MODEL_PARAMS if model_params is None else model_params,
        bits_per_param=bits_per_param,
        check_fraction=check_fraction,
        target_fidelity=target_fidelity,
        protocol=proto,
        max_rounds=max_rounds,
        preset=chosen,
    )
    return dataclasses.replace(report, notes=(*report.notes, *notes))
