"""Descriptions of configuration fields for the generated reference, keyed ``Model.field``.

The code's own description wins: a ``Field(description=...)`` or a docstring under the field
replaces the note here. ``tests/test_docs.py`` fails for a field without any description
and for a note whose field no longer exists.
"""

FIELD_NOTES: dict[str, str] = {
    "ExperimentConfig.seed": "The run seed; split into independent streams for client "
    "sampling, dropouts, batches, channels and the initial model.",
    "ExperimentConfig.seeds": "Run the experiment once per seed (distinct) and summarise "
    "means and 95% intervals over them; null = one run with ``seed``.",
    "ExperimentConfig.data": "The data set and its split among clients.",
    "ExperimentConfig.model": "The model every client trains.",
    "ExperimentConfig.training": "Rounds, client sampling and local training.",
    "ExperimentConfig.strategy": "The server's aggregation strategy.",
    "ExperimentConfig.evaluation": "How often to evaluate, and the target accuracy.",
    "ExperimentConfig.channel": "The default channel of every scenario, both ways "
    "(a section without ``kind`` is ``plain``).",
    "ExperimentConfig.scenarios": "The runs to compare; absent = one scenario ``default`` "
    "on ``channel``.",
    "ExperimentConfig.privacy": "Run-wide DP and secure aggregation (a scenario may override).",
    "ExperimentConfig.compression": "Run-wide update compression (a scenario may override).",
    "ExperimentConfig.attacks": "Privacy attacks run on every scenario after training.",
    "DataConfig.name": "Data set name: ``digits``, ``fashion-mnist``, ``mnist``, ``cifar10``, "
    "``digits-pca``, ``qdataset``.",
    "DataConfig.root": "Directory holding the data set's files (when it is not bundled).",
    "DataConfig.partition": "How the training set is split: ``iid``, ``dirichlet``, "
    "``shards``, or ``noise-profile`` (QDataSet).",
    "DataConfig.alpha": "Dirichlet concentration of the ``dirichlet`` partition "
    "(small = strong label skew).",
    "DataConfig.shards_per_client": "Shards per client of the ``shards`` partition.",
    "DataConfig.num_clients": "Number of clients.",
    "DataConfig.qdataset": "QDataSet sets and task (``name: qdataset`` only).",
    "ModelConfig.name": "Model name: ``logreg``, ``mlp``, ``lenet``, ``convnet``, ``vqc``.",
    "ModelConfig.hidden": "Hidden width(s) of the MLP.",
    "ModelConfig.qubits": "Qubits of the VQC (default min(features, 8)).",
    "ModelConfig.layers": "Ansatz layers per encoding block of the VQC.",
    "TrainingConfig.rounds": "Federated rounds.",
    "TrainingConfig.fraction": "Fraction of the clients sampled each round.",
    "TrainingConfig.local_epochs": "Local epochs per round.",
    "TrainingConfig.batch_size": "Local mini-batch size.",
    "TrainingConfig.lr": "Local learning rate.",
    "TrainingConfig.optimizer": "Local optimizer.",
    "TrainingConfig.momentum": "SGD momentum.",
    "TrainingConfig.proximal_mu": "FedProx proximal term mu (0 = none).",
    "TrainingConfig.dropout_probability": "Probability that a sampled client does not answer "
    "in a round.",
    "TrainingConfig.backend": "Local training backend; ``auto`` takes the first of ``bmm``, "
    "``vmap``, ``loop`` that fits the model.",
    "TrainingConfig.client_chunk": "Clients trained together in one batched step (memory bound).",
    "TrainingConfig.workers": "Worker processes for the clients' uplink sends; ``auto`` = "
    "the CPUs not already busy (at least 1). Results are bit-identical for any value.",
    "StrategyConfig.name": "Strategy: ``fedavg``, ``fedprox``, ``fedadam``, ``fedyogi``, "
    "``median``, ``trimmed-mean``, ``krum``, ``multi-krum``.",
    "StrategyConfig.params": "The strategy's parameters (``server_lr``, ``beta``, ``f``, ...).",
    "EvaluationConfig.every": "Evaluate the global model every this many rounds.",
    "EvaluationConfig.target_accuracy": "Accuracy whose first round is reported as "
    "``rounds_to_target``.",
    "PlainChannelConfig.kind": "Channel kind.",
    "PlainChannelConfig.latency_s": "One-way latency in seconds.",
    "PlainChannelConfig.bandwidth_bps": "Bandwidth in bits per second (null = unlimited).",
    "AeadChannelConfig.kind": "Channel kind.",
    "AeadChannelConfig.latency_s": "One-way latency in seconds.",
    "AeadChannelConfig.bandwidth_bps": "Bandwidth in bits per second (null = unlimited).",
    "TeleportChannelConfig.link": "The quantum link the Bell pairs come from.",
    "TeleportChannelConfig.bits": "Bits per parameter of the basis encoding.",
    "TeleportChannelConfig.purify_to": "DEJMPS purification target fidelity (null = none).",
    "TeleportChannelConfig.kind": "Channel kind.",
    "TeleportChannelConfig.check_fraction": "Fraction of the pairs sacrificed as checks.",
    "TeleportChannelConfig.alpha": "False-alarm probability of the QBER test.",
    "TeleportChannelConfig.max_retries": "Attempts on fresh pairs after an abort.",
    "TeleportChannelConfig.fec": "Forward error correction: ``none``, ``auto`` or a code "
    "(``ldpc-1/4`` ... ``ldpc-9/10``).",
    "TeleportChannelConfig.max_retransmissions": "Resends of a failed FEC block.",
    "QkdOtpChannelConfig.link": "The quantum link the Bell pairs come from.",
    "QkdOtpChannelConfig.bits": "Bits per parameter of the basis encoding.",
    "QkdOtpChannelConfig.purify_to": "DEJMPS purification target fidelity (null = none).",
    "QkdOtpChannelConfig.kind": "Channel kind.",
    "QkdOtpChannelConfig.sample_fraction": "Fraction of the sifted bits spent estimating the QBER.",
    "QkdOtpChannelConfig.max_blocks": "Key blocks tried before the delivery fails.",
    "QkdOtpChannelConfig.reconciliation": "Error correction of the raw key: ``ldpc`` "
    "(one syndrome per block) or ``cascade`` (interactive parities).",
    "QkdOtpChannelConfig.qber_tolerance": "Tolerated QBER fixed before the run; a block whose "
    "sample exceeds it aborts (null = per block, the link's expected QBER plus the binomial "
    "margin at which an honest link aborts with probability at most 1e-10).",
    "ScenarioConfig.name": "Scenario name (letters, digits, ``_.-``).",
    "ScenarioConfig.channel": "This scenario's channel both ways (default: the top-level one).",
    "ScenarioConfig.uplink": "Client-to-server channel (default: ``channel``).",
    "ScenarioConfig.downlink": "Server-to-client channel (default: ``channel``).",
    "ScenarioConfig.eavesdroppers": "Attackers on the uplink pairs of some clients "
    "(quantum uplinks only).",
    "ScenarioConfig.privacy": "This scenario's privacy section (replaces the run-wide one).",
    "ScenarioConfig.compression": "This scenario's compression (replaces the run-wide one).",
    "PrivacyConfig.dp": "DP-FedAvg settings (null = no DP).",
    "PrivacyConfig.secure_aggregation": "Mask updates pairwise so the server sees only their sum.",
    "PrivacyConfig.secure_aggregation_max_abs": "Elementwise clip of every update before masking.",
    "CompressionSection.kind": "Compression step.",
    "CompressionSection.bits": "Bits per value of ``quantize``.",
    "CompressionSection.ratio": "Fraction of the values ``topk`` keeps.",
    "CompressionSection.error_feedback": "Keep the unsent part on the client (``topk``, ``sign``).",
    "AttacksConfig.inversion": "Gradient-inversion methods to run.",
    "AttacksConfig.membership": "Run loss and LiRA membership inference on the final model.",
    "QDataSetConfig.sets": "QDataSet names to generate, e.g. ``G_1q_XZ_N1``.",
    "QDataSetConfig.task": "``characterisation`` (regression) or ``classification`` of the "
    "noise profile.",
    "QDataSetConfig.examples": "Examples per set.",
    "QDataSetConfig.realisations": "Noise realisations per example.",
    "QDataSetConfig.time_steps": "Piecewise-constant time steps.",
    "QDataSetConfig.seed": "Generation seed.",
    "QDataSetConfig.test_fraction": "Fraction held out for testing.",
    "QDataSetConfig.evolution": "``faithful`` (the published generator's discretisation) or "
    "``exact``.",
    "QDataSetConfig.features": "Inputs: ``all``, ``purity`` (classification: the purities "
    "alone) or ``pulses`` (characterisation: the pulse parameters alone).",
    "LinkConfig.preset": "A published link (see ``qtfl link --list``).",
    "LinkConfig.fidelity": "Werner pair fidelity given directly (excludes preset and fiber).",
    "LinkConfig.pair_rate_hz": "Pair rate of a link given by ``fidelity``.",
    "LinkConfig.latency_s": "Latency of a link given by ``fidelity``.",
    "LinkConfig.distance_km": "Fiber length.",
    "LinkConfig.attenuation_db_per_km": "Fiber loss per km (default 0.2 dB/km).",
    "LinkConfig.extra_loss_db": "Loss besides the fiber's (e.g. a satellite channel).",
    "LinkConfig.source": "Pair source at one ``end`` or at the ``midpoint``.",
    "LinkConfig.source_rate_hz": "Pair source rate.",
    "LinkConfig.source_fidelity": "Fidelity of the source's pairs.",
    "LinkConfig.detector_efficiency": "Detector efficiency.",
    "LinkConfig.heralded": "Pairs are heralded (memories wait for the herald).",
    "LinkConfig.memory_t2_s": "Quantum memory dephasing time T2.",
    "EavesdropperConfig.clients": "Client indices whose uplink pairs are attacked.",
    "EavesdropperConfig.kind": "Eavesdropper: ``tap``, ``intercept-resend`` or ``mitm`` "
    "(``attack`` still reads as this key).",
    "EavesdropperConfig.fraction": "Fraction of the pairs attacked (``intercept-resend``, "
    "``mitm``; default 1; refused for ``tap``).",
    "EavesdropperConfig.basis": "Measurement basis of intercept-resend (default ``random``; "
    "refused for the other kinds).",
    "DPConfig.clip_norm": "L2 clip norm C of every update.",
    "DPConfig.noise_multiplier": "Gaussian noise sigma, in units of C.",
    "DPConfig.placement": "``server``: once on the aggregate (central DP); ``client``: on "
    "every update (local DP).",
    "PqcChannelConfig.kind": "Channel kind.",
    "PqcChannelConfig.latency_s": "One-way latency in seconds.",
    "PqcChannelConfig.bandwidth_bps": "Bandwidth in bits per second (null = unlimited).",
    "ScenarioConfig.adversaries": "Malicious clients of this scenario (poisoning attacks).",
    "ScenarioConfig.strategy": "This scenario's aggregation strategy (replaces the run-wide "
    "one; e.g. a robust aggregator against adversaries).",
    "PrivacyConfig.secure_aggregation_keys": "Where the masks' keys come from: ``pairwise`` "
    "(the run's secrets) or ``quantum`` (SecAgg+ with keys distilled over relayed pairs).",
    "PrivacyConfig.quantum_keys": "Settings of quantum-keyed secure aggregation.",
    "AdversaryConfig.clients": "Client indices that are malicious.",
    "AdversaryConfig.attack": "Poisoning attack: model (``sign-flip``, ``scaling``, "
    "``gaussian``, ``alie``) or data (``label-flip``, ``backdoor``).",
    "AdversaryConfig.scale": "Factor s of ``sign-flip`` and ``scaling``.",
    "AdversaryConfig.sigma": "Standard deviation of the ``gaussian`` update.",
    "AdversaryConfig.z": "Deviations z of ``alie`` (null = Baruch et al.'s z from the "
    "number of clients and malicious clients in the round).",
    "AdversaryConfig.target_label": "Label the ``backdoor`` trigger maps to.",
    "AdversaryConfig.trigger_size": "Side in pixels of the ``backdoor`` trigger patch.",
    "AdversaryConfig.poison_fraction": "Share of a malicious client's examples poisoned.",
    "QuantumKeysConfig.link_fidelity": "Fidelity of each client's link to the server.",
    "QuantumKeysConfig.dropout_tolerance": "Fraction of clients that may drop out while the "
    "neighbour graph still recovers the sum.",
    "QuantumKeysConfig.threshold": "Shamir threshold as a fraction of a client's neighbours.",
    "QuantumKeysConfig.failure_probability": "Bound on the chance the neighbour graph fails.",
    "QuantumKeysConfig.qber_tolerance": "QBER fixed before the run; above it a pairwise key "
    "aborts.",
    "QuantumKeysConfig.key_bits": "Secret bits per pairwise key.",
    "QuantumKeysConfig.eps_sec": "Secrecy parameter of each key.",
    "QuantumKeysConfig.relay": "The server relaying the pairs: ``honest`` (swaps) or "
    "``measure`` (measures instead, caught by the clients' checks).",
}
