"""``shipyard.evaluate``: evaluate a model (and its baseline on the same rows), log it, attach it.

The work happens on the caller's side, where the data is: both models are fetched (sha256
verified) and loaded through the same code as ``shipyard predict``, scored on the same rows,
and compared (:mod:`shipyard.evaluation.compute`); the candidate is load-tested through the
serving runtime (:mod:`shipyard.evaluation.latency`). The result is logged to a run (metrics,
``evaluation/evaluation.json``, PNG plots, ``evaluation/report.html``, the data as an input
with context ``evaluation``) and, for a registered version, attached to it on the server,
where promotion gates read it (:mod:`shipyard.gates`).
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from shipyard.client import Client
from shipyard.client.datasets import describe
from shipyard.errors import NotFound
from shipyard.evaluation.compute import CustomMetric, Inputs, Predictions, curves, slice_result
from shipyard.evaluation.errors import EvaluationInputError
from shipyard.evaluation.latency import DEFAULT_REQUESTS, measure_latency
from shipyard.evaluation.plots import plots
from shipyard.evaluation.report import render_html
from shipyard.evaluation.schemas import DatasetRef, EvaluationResult, ModelRef, ModelType
from shipyard.evaluation.slices import slice_masks
from shipyard.models import LoadedModel
from shipyard.models import load_model as load_directory
from shipyard.models.signature import ColumnSpec
from shipyard.sdk import get_client
from shipyard.serving.proba import predict_proba, supports_proba

EXPERIMENT = "evaluations"


def _load(client: Client, uri: str, project: str | None) -> tuple[LoadedModel, ModelRef]:
    if uri.startswith("models:/"):
        version = client.resolve_model(uri, project=project)
        pinned = f"models:/{version.model_name}/{version.version}"
        path = client.download_model(pinned, project=project)
        return load_directory(path), ModelRef(uri=uri, name=version.model_name, version=version.version)
    if uri.startswith("runs:/"):
        return load_directory(client.download_model(uri, project=project)), ModelRef(uri=uri)
    return load_directory(Path(uri).expanduser()), ModelRef(uri=uri)


def _features(model: LoadedModel, frame: Any) -> Any:
    signature = model.signature
    if signature is not None and signature.inputs and all(isinstance(s, ColumnSpec) for s in signature.inputs):
        names = [s.name for s in signature.inputs if isinstance(s, ColumnSpec)]
        missing = [n for n in names if n not in frame.columns]
        if not missing:
            return frame[names]
    return frame


def _column(output: Any) -> np.ndarray[Any, Any]:
    if hasattr(output, "iloc"):
        output = output.iloc[:, 0] if getattr(output, "ndim", 1) == 2 else output
    array = np.asarray(output)
    return array.reshape(len(array), -1)[:, 0] if array.ndim > 1 else array


def _predict(model: LoadedModel, frame: Any, model_type: ModelType, labels: list[Any] | None) -> Predictions:
    features = _features(model, frame)
    y_pred = _column(model.predict(features))
    if model_type != "classifier" or not supports_proba(model):
        return Predictions(y_pred)
    proba = np.asarray(predict_proba(model, features), dtype=np.float64)
    classes = getattr(model.raw, "classes_", None)
    order = list(np.asarray(classes).tolist()) if classes is not None else labels
    if labels is None or order is None or len(order) != proba.shape[1] or set(order) != set(labels):
        return Predictions(y_pred)
    return Predictions(y_pred, proba[:, [order.index(label) for label in labels]])


def _labels(model: LoadedModel, y_true: Any) -> list[Any]:
    classes = getattr(model.raw, "classes_", None)
    found = set(np.unique(y_true).tolist())
    if classes is not None:
        known = list(np.asarray(classes).tolist())
        return known + sorted(found - set(known), key=str)
    return sorted(found, key=str)


def _custom(custom_metrics: Mapping[str, Any] | None) -> dict[str, CustomMetric]:
    out: dict[str, CustomMetric] = {}
    for name, metric in (custom_metrics or {}).items():
        if isinstance(metric, CustomMetric):
            out[name] = metric
        elif callable(metric):
            out[name] = CustomMetric(metric)
        else:
            raise EvaluationInputError(f"custom metric '{name}' must be a function", field="custom_metrics")
    return out


def evaluate(
    model_uri: str,
    data: Any,
    *,
    targets: str = "label",
    model_type: ModelType = "classifier",
    slices: Sequence[str] = (),
    baseline: str | None = None,
    custom_metrics: Mapping[str, Any] | None = None,
    bootstrap: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    dataset_name: str = "evaluation",
    latency_requests: int = DEFAULT_REQUESTS,
    log: bool = True,
    client: Client | None = None,
    project: str | None = None,
) -> EvaluationResult:
    """Evaluate ``model_uri`` on ``data`` (a DataFrame holding the ``targets`` column).

    ``baseline`` (e.g. ``models:/churn@production``) is scored on the same rows; an alias
    that does not exist yet means no baseline. ``slices`` are column names: one slice per
    distinct value. ``custom_metrics`` maps names to functions ``fn(y_true, y_pred)`` (or
    ``fn(y_true, y_pred, y_score)``), or to :class:`CustomMetric` for lower-is-better ones.
    ``bootstrap`` resamples (seeded by ``seed``) give the intervals; 0 turns them off.
    ``latency_requests`` single-row requests measure the serving latency (0: skip).
    With ``log`` the result is logged to a run and attached to the registered version.
    """
    if model_type not in ("classifier", "regressor"):
        raise EvaluationInputError("model_type must be 'classifier' or 'regressor'", field="model_type")
    if not hasattr(data, "columns") or targets not in data.columns:
        raise EvaluationInputError(f"data must be a DataFrame with a '{targets}' column", field="targets")
    if not 0 < confidence < 1:
        raise EvaluationInputError("confidence must be between 0 and 1", field="confidence")
    client = client or get_client()
    frame = data.reset_index(drop=True)
    y_true = frame[targets].to_numpy()
    features = frame.drop(columns=[targets])
    model, ref = _load(client, model_uri, project)
    base_model, base_ref = None, None
    if baseline:
        try:
            base_model, base_ref = _load(client, baseline, project)
        except NotFound:
            base_model = None  # e.g. the first promotion: the alias does not exist yet
    labels = _labels(model, y_true) if model_type == "classifier" else None
    inputs = Inputs(
        model_type=model_type,
        y_true=y_true,
        candidate=_predict(model, features, model_type, labels),
        baseline=None if base_model is None else _predict(base_model, features, model_type, labels),
        labels=labels,
        custom=_custom(custom_metrics),
    )
    rows = np.ones(len(frame), dtype=bool)
    options: dict[str, Any] = {"bootstrap_count": max(0, int(bootstrap)), "confidence": confidence}
    dataset = describe(frame, name=dataset_name, context="evaluation")
    result = EvaluationResult(
        model_type=model_type,
        model=ref,
        baseline=base_ref if base_model is not None else None,
        dataset=DatasetRef(name=dataset_name, digest=dataset.digest, rows=len(frame)),
        target=targets,
        labels=None if labels is None else [str(label) for label in labels],
        bootstrap=options["bootstrap_count"],
        seed=seed,
        confidence=confidence,
        overall=slice_result(inputs, rows, seed=seed, **options),
        slices={
            key: slice_result(inputs, mask, seed=[seed, i + 1], **options)
            for i, (key, mask) in enumerate(slice_masks(frame, slices).items())
        },
        lower_is_better=[name for name, metric in inputs.custom.items() if not metric.greater_is_better],
        curves=curves(inputs),
    )
    if latency_requests > 0:
        result.latency = measure_latency(model, _features(model, features), requests=latency_requests)
    if log:
        _log(client, result, dataset, project)
    return result


def metric_key(name: str) -> str:
    """A run metric key for ``name``: ``recall[class=1]`` -> ``recall.class.1`` (keys allow
    letters, digits, ``_-. /:``)."""
    key = (
        name.replace("[class=", ".class.").replace("[slice=", ".slice.").replace(",slice=", ".slice.").replace("]", "")
    )
    return re.sub(r"[^\w\-. /:]", "_", key)


def _metrics(result: EvaluationResult) -> list[tuple[str, float, int, None]]:
    points = [(k, e.value, 0, None) for k, e in result.overall.metrics.items() if e.value is not None]
    points += [(f"baseline.{k}", e.value, 0, None) for k, e in result.overall.baseline.items() if e.value is not None]
    points += [(f"delta.{k}", d.value, 0, None) for k, d in result.overall.delta.items() if d.value is not None]
    for key, part in result.slices.items():
        points += [(f"{k}[slice={key}]", e.value, 0, None) for k, e in part.metrics.items() if e.value is not None]
    points += [(k, v, 0, None) for k, v in result.latency.items()]
    return [(metric_key(k), float(v), s, t) for k, v, s, t in points if v is not None]


def _log(client: Client, result: EvaluationResult, dataset: Any, project: str | None) -> None:
    experiment = client.get_or_create_experiment(EXPERIMENT, project=project)
    label = (result.model.name and f"{result.model.name} v{result.model.version}") or result.model.uri
    run = client.create_run(experiment.id, name=f"evaluate {label}", project=project)
    result.run_id = run.id
    status = "FAILED"
    try:
        client.log_batch(
            run.id,
            metrics=_metrics(result),
            params={
                "model_uri": result.model.uri,
                "baseline_uri": result.baseline.uri if result.baseline else "",
                "model_type": result.model_type,
                "target": result.target,
                "bootstrap": result.bootstrap,
                "seed": result.seed,
            },
            project=project,
        )
        client.log_inputs(run.id, [dataset], project=project)
        with tempfile.TemporaryDirectory(prefix="shipyard-eval-") as tmp:
            root = Path(tmp)
            (root / "evaluation.json").write_text(result.model_dump_json(indent=2))
            (root / "report.html").write_text(render_html(result))
            for name, png in plots(result).items():
                (root / name).write_bytes(png)
            client.log_artifacts(run.id, root, artifact_path="evaluation", project=project)
        if result.model.name is not None and result.model.version is not None:
            client.attach_evaluation(result.model.name, result.model.version, result, project=project)
        status = "FINISHED"
    finally:
        client.update_run(run.id, status=status, project=project)


__all__ = ["CustomMetric", "evaluate"]
