"""Model packaging: a model as a directory of files with a manifest, and back.

``save_model`` writes a scikit-learn, XGBoost, LightGBM, ONNX or custom ``predict()``
model into a local directory together with ``shipyard-model.json`` (flavor,
serialization, signature, input example, pinned requirements, and the sha256 of every
file). ``load_model`` checks those digests and gives back a :class:`LoadedModel` whose
``predict`` behaves the same for every flavor; it also reads MLflow model directories.
The registry uploads the directory's files as content-addressed blobs.

The model libraries are optional (``pip install 'shipyard[models]'``) and imported only
when a model of theirs is saved or loaded.
"""

from shipyard.models.flavors import detect_flavor
from shipyard.models.loaded import LoadedModel
from shipyard.models.manifest import MANIFEST_FILE, FileEntry, InputExampleRef, ModelManifest
from shipyard.models.service import load_model, read_manifest, save_model, verify_model
from shipyard.models.signature import ColumnSpec, ModelSignature, ParamSpec, TensorSpec, infer_signature

__all__ = [
    "MANIFEST_FILE",
    "ColumnSpec",
    "FileEntry",
    "InputExampleRef",
    "LoadedModel",
    "ModelManifest",
    "ModelSignature",
    "ParamSpec",
    "TensorSpec",
    "detect_flavor",
    "infer_signature",
    "load_model",
    "read_manifest",
    "save_model",
    "verify_model",
]
