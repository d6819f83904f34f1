"""``shipyard.Client``: typed access to a Shipyard server, or to an in-process one.

With a URL (argument, ``client.url`` setting or ``SHIPYARD_CLIENT_URL``) it speaks HTTP.
Without one it runs the same ASGI app in-process over the embedded stores
(``$SHIPYARD_HOME``), so both modes share every rule and return the same objects.
The methods live in one mixin per domain (``projects.py``, ``blobs.py``, ``tracking.py``, ``registry.py``,
``endpoints.py``, ``identity.py``, ``audit.py``, ``alerts.py``; ``monitoring.py`` as ``client.monitoring``).
"""

from __future__ import annotations

from shipyard.client.alerts import AlertsAPI
from shipyard.client.audit import AuditAPI
from shipyard.client.endpoints import EndpointsAPI
from shipyard.client.gates import GatesAPI
from shipyard.client.identity import IdentityAPI
from shipyard.client.monitoring import MonitoringMixin
from shipyard.client.projects import ProjectsAPI
from shipyard.client.registry import RegistryAPI


class Client(ProjectsAPI, RegistryAPI, EndpointsAPI, IdentityAPI, AuditAPI, AlertsAPI, MonitoringMixin, GatesAPI):
    """Talk to Shipyard.

    >>> client = Client()                          # local mode, $SHIPYARD_HOME
    >>> client = Client("http://127.0.0.1:8765", token="sy_…")   # a running server
    """


__all__ = ["Client"]
