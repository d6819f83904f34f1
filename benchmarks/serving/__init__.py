"""Model serving, side by side: Shipyard against MLflow, KServe, MLServer, BentoML and a bare
ASGI app (the ceiling), all driven by the same ``wrk`` on loopback.

    .venv/bin/python -m benchmarks.serving                  # the full matrix, 3 runs per cell, medians
    .venv/bin/python -m benchmarks.serving --quick          # smoke run: 1 run x 2 s, a subset
    .venv/bin/python -m benchmarks.serving --servers shipyard,mlflow --models iris

Models (``models.py``): an iris ``LogisticRegression`` (overhead-bound) and a breast-cancer
``GradientBoostingClassifier(n_estimators=100)`` (30 columns), trained on scikit-learn's
bundled datasets and saved in every server's format. Servers (``peers.py``): one process per
model, each peer from its own throwaway venv under ``/tmp/shipyard-bench-venvs``; start to
ready, RSS and PSS measured; stopped with its whole process tree. Load (``load.py``):
``wrk -t1`` with a generated POST script per server, protocol and body (1 or 100 rows) at
concurrency 1, 16, 64 (and 32 for the GBM); every server's answer is checked first. Matrix:
``matrix.py``. Results: ``benchmarks/results/serving.json`` (every run) and ``serving.md``
(tables, Shipyard/peer ratios and the targets of issue 4); ``--quick`` writes to
``$TMPDIR/shipyard-bench-serving-quick`` unless ``--out`` says otherwise.
"""

from benchmarks.serving.run import main

__all__ = ["main"]
