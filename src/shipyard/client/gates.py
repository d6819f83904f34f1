"""Gates through the SDK: policies on aliases, evaluations attached to versions, checks, overrides."""

from __future__ import annotations

from shipyard.client.base import BaseClient
from shipyard.evaluation.schemas import EvaluationList, EvaluationOut, EvaluationResult
from shipyard.gates.schemas import GatePolicyList, GatePolicyOut, VerdictList, VerdictOut


class GatesAPI(BaseClient):
    def _gated(self, name: str, project: str | None) -> str:
        return f"/api/v1/projects/{self._project(project)}/models/{name}"

    def set_gate_policy(self, name: str, alias: str, text: str, *, project: str | None = None) -> GatePolicyOut:
        """Gate ``@alias`` of ``name`` with the rules in ``text`` (see docs/gates.md)."""
        return self._json("PUT", f"{self._gated(name, project)}/gates/{alias}", GatePolicyOut, json={"text": text})

    def get_gate_policy(self, name: str, alias: str, *, project: str | None = None) -> GatePolicyOut:
        return self._json("GET", f"{self._gated(name, project)}/gates/{alias}", GatePolicyOut)

    def list_gate_policies(self, name: str, *, project: str | None = None) -> list[GatePolicyOut]:
        return self._json("GET", f"{self._gated(name, project)}/gates", GatePolicyList).policies

    def delete_gate_policy(self, name: str, alias: str, *, project: str | None = None) -> None:
        self._request("DELETE", f"{self._gated(name, project)}/gates/{alias}")

    def attach_evaluation(
        self, name: str, version: int, result: EvaluationResult, *, project: str | None = None
    ) -> EvaluationOut:
        return self._json(
            "POST",
            f"{self._gated(name, project)}/versions/{version}/evaluations",
            EvaluationOut,
            content=result.model_dump_json().encode(),
            headers={"content-type": "application/json"},
        )

    def list_evaluations(self, name: str, version: int, *, project: str | None = None) -> list[EvaluationOut]:
        """The version's evaluations, newest first."""
        path = f"{self._gated(name, project)}/versions/{version}/evaluations"
        return self._json("GET", path, EvaluationList).evaluations

    def check_gate(self, name: str, version: int, alias: str, *, project: str | None = None) -> VerdictOut:
        """Check ``@alias``'s gate against ``version`` now (nothing moves); the verdict is kept."""
        path = f"{self._gated(name, project)}/versions/{version}/gate-checks"
        return self._json("POST", path, VerdictOut, json={"alias": alias})

    def list_gate_verdicts(self, name: str, version: int, *, project: str | None = None) -> list[VerdictOut]:
        path = f"{self._gated(name, project)}/versions/{version}/gate-verdicts"
        return self._json("GET", path, VerdictList).verdicts

    def override_gate(
        self, name: str, version: int, alias: str, *, justification: str, project: str | None = None
    ) -> VerdictOut:
        """Let ``version`` pass ``@alias``'s failing gate (needs ``registry.gate``); audited."""
        path = f"{self._gated(name, project)}/versions/{version}/gate-overrides"
        return self._json("POST", path, VerdictOut, json={"alias": alias, "justification": justification})
