"""Verdicts: one CheckResult per check, a ValidationResult per validated model."""
import dataclasses
from typing import Any, Dict, List, Optional

from components.behavior_validator import constants as c
from components.behavior_validator.config import BehaviorValidatorConfig


@dataclasses.dataclass
class CheckResult:
    """Verdict of one check with the figures and thresholds it was decided on."""
    name: str
    verdict: str                      # c.PASS, c.FAIL or c.SKIPPED
    summary: str
    figures: Dict[str, Any] = dataclasses.field(default_factory=dict)
    thresholds: Dict[str, Any] = dataclasses.field(default_factory=dict)
    rows: List[Dict[str, Any]] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class ValidationResult:
    """The checks of one model; `upstream_blessing` (when recorded) is listed with them but is not a
    behaviour check."""
    checks: List[CheckResult]
    model_path: str
    baseline_model_path: Optional[str]
    config: BehaviorValidatorConfig

    @property
    def failed_checks(self) -> List[str]:
        """Every FAILed entry, the upstream blessing included: what withholds the blessing."""
        return [r.name for r in self.checks if r.verdict == c.FAIL]

    @property
    def behavior_checks_passed(self) -> bool:
        """No behaviour check FAILed (SKIPPED does not block; the upstream blessing is left out)."""
        return all(r.verdict != c.FAIL for r in self.checks if r.name != c.CHECK_UPSTREAM_BLESSING)

    @property
    def blessed(self) -> bool:
        """Behaviour checks passed and, when recorded, the upstream validator blessed the model."""
        return not self.failed_checks

    def check(self, name: str) -> CheckResult:
        for r in self.checks:
            if r.name == name:
                return r
        raise KeyError(name)

    def to_dict(self) -> Dict[str, Any]:
        return {
            "blessed": self.blessed,
            "behavior_checks_passed": self.behavior_checks_passed,
            "failed_checks": self.failed_checks,
            "model_path": self.model_path,
            "baseline_model_path": self.baseline_model_path,
            "config": dataclasses.asdict(self.config),
            "checks": [dataclasses.asdict(r) for r in self.checks],
        }


def require_upstream_blessing(result: ValidationResult, blessing_uri: str, blessed: bool) -> ValidationResult:
    """Records an `upstream_blessing` entry (e.g. Evaluator's verdict): `result.blessed` then also
    requires it; `result.behavior_checks_passed` does not change."""
    check = CheckResult(
        name=c.CHECK_UPSTREAM_BLESSING, verdict=c.PASS if blessed else c.FAIL,
        summary=(f"upstream validator blessed the model ({blessing_uri})" if blessed
                 else f"upstream validator did NOT bless the model ({blessing_uri})"),
        figures={"blessed": int(blessed)}, thresholds={"blessed": 1})
    return dataclasses.replace(result, checks=result.checks + [check])
