"""A model loaded into memory, with one ``predict`` for every flavor."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from shipyard.errors import ValidationFailed
from shipyard.models.examples import read_example
from shipyard.models.manifest import ModelManifest
from shipyard.models.signature import ModelSignature
from shipyard.models.validation import normalise_output, prepare_input, prepare_params

Predictor = Callable[[Any, Mapping[str, Any] | None], Any]


class LoadedModel:
    """``manifest`` says what the model is; ``raw`` is the native object (an estimator, a
    booster, an ``onnxruntime.InferenceSession``, the user's class); ``predict`` calls it."""

    def __init__(self, *, path: Path, manifest: ModelManifest, raw: Any, predictor: Predictor) -> None:
        self.path = path
        self.manifest = manifest
        self.raw = raw
        self._predictor = predictor

    @property
    def signature(self) -> ModelSignature | None:
        return self.manifest.signature

    @property
    def flavor(self) -> str:
        return self.manifest.flavor

    @property
    def input_example(self) -> Any:
        """The stored input example (DataFrame, array, dict of arrays or records), or None."""
        ref = self.manifest.input_example
        return None if ref is None else read_example(self.path, ref)

    def predict(self, data: Any, params: Mapping[str, Any] | None = None) -> Any:
        """Run the model on a DataFrame, a numpy array, a list of records or a dict of arrays.

        The input is checked against the signature first (:class:`ValidationFailed` names
        the offending column or tensor). Returns a numpy array or a DataFrame. A model that
        rejects its input (``ValueError``, ``TypeError``, ``KeyError``) is reported as
        :class:`ValidationFailed` too.
        """
        signature = self.manifest.signature
        prepared = prepare_input(data, signature)
        call_params = prepare_params(params, signature.params if signature else None)
        try:
            output = self._predictor(prepared, call_params)
        except (ValueError, TypeError, KeyError) as exc:
            raise ValidationFailed(
                f"the {self.manifest.flavor} model rejected its input: {exc}", {"field": "data"}
            ) from exc
        return normalise_output(output)

    def __repr__(self) -> str:
        return f"LoadedModel(flavor={self.manifest.flavor!r}, path={str(self.path)!r})"
