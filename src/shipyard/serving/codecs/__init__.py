"""Protocol codecs: bytes of one wire format to an :class:`~shipyard.serving.dataplane.InferenceRequest`
and an :class:`~shipyard.serving.dataplane.InferenceResult` back to bytes. No I/O, no
model calls: the data plane does the rest, the same for every protocol."""
