"""PNG plots of an evaluation (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")

from matplotlib import pyplot as plt
from matplotlib.figure import Figure

from shipyard.evaluation.schemas import EvaluationResult


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def _curves(title: str, axis: tuple[str, str], series: list[tuple[str, list[float], list[float], str]]) -> bytes:
    figure, axes = plt.subplots(figsize=(4.2, 4.0))
    for label, xs, ys, marker in series:
        axes.plot(xs, ys, label=label, marker=marker or None)
    axes.plot([0, 1], [0, 1], color="grey", linewidth=0.6)
    axes.set(xlabel=axis[0], ylabel=axis[1], title=title)
    axes.legend(loc="lower right")
    return _png(figure)


def _roc(result: EvaluationResult) -> bytes | None:
    if result.curves is None or not result.curves.roc:
        return None
    roc = result.curves.roc
    series = [("candidate", roc["fpr"], roc["tpr"], "")]
    if "baseline_fpr" in roc:
        series.append(("baseline", roc["baseline_fpr"], roc["baseline_tpr"], ""))
    return _curves("ROC curve", ("false positive rate", "true positive rate"), series)


def _calibration(result: EvaluationResult) -> bytes | None:
    if result.curves is None or not result.curves.calibration:
        return None
    cal = result.curves.calibration
    series = [("candidate", cal["mean_predicted"], cal["fraction_positive"], "o")]
    if "baseline_mean_predicted" in cal:
        series.append(("baseline", cal["baseline_mean_predicted"], cal["baseline_fraction_positive"], "s"))
    return _curves("Calibration", ("mean predicted probability", "observed positive rate"), series)


def _confusion(matrix: list[list[int]], labels: list[str], title: str) -> bytes:
    size = max(3.0, 0.6 * len(labels) + 2)
    figure, axes = plt.subplots(figsize=(size, size))
    axes.imshow(matrix, cmap="Blues")
    axes.set_xticks(range(len(labels)), labels)
    axes.set_yticks(range(len(labels)), labels)
    for i, row in enumerate(matrix):
        for j, count in enumerate(row):
            axes.text(j, i, str(count), ha="center", va="center")
    axes.set(xlabel="predicted", ylabel="true", title=title)
    return _png(figure)


def plots(result: EvaluationResult) -> dict[str, bytes]:
    """File name -> PNG bytes, for the plots that apply to this result."""
    out: dict[str, bytes] = {}
    for name, draw in (("roc.png", _roc), ("calibration.png", _calibration)):
        image = draw(result)
        if image is not None:
            out[name] = image
    labels = result.labels or []
    if result.overall.confusion is not None:
        out["confusion.png"] = _confusion(result.overall.confusion, labels, "Confusion (candidate)")
    if result.overall.baseline_confusion is not None:
        out["baseline_confusion.png"] = _confusion(result.overall.baseline_confusion, labels, "Confusion (baseline)")
    return out


__all__ = ["plots"]
