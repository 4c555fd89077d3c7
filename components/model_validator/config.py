"""Parameters of the model behaviour checks (a JSON object; every key is optional)."""
import dataclasses
import json
from typing import Any, Dict, List, Mapping, Optional, Union

from data import contract as features

_OPS = ("add", "multiply", "set")


def _default_invariance_values() -> Dict[str, List[Union[int, float, str]]]:
    values = {"flight": [1, 1234, 4321, 6789], "sched_dep_minute": [0, 17, 30, 59]}
    return {f: list(values[f]) for f in features.INVARIANT_FEATURES if f in values}


def _default_directional() -> List[Dict[str, Any]]:
    # Worse weather at the origin: more precipitation (inches/hour), lower visibility (miles).
    return [
        {"name": "precip_up", "feature": "precip", "op": "add", "value": 0.5},
        {"name": "visib_down", "feature": "visib", "op": "multiply", "value": 0.2},
    ]


@dataclasses.dataclass
class ValidatorConfig:
    """Thresholds and perturbations. Defaults are documented in README.md."""
    batch_size: int = 256
    # invariance: replace each feature by each value; max |prediction delta| must stay <= tolerance.
    invariance_values: Dict[str, List[Union[int, float, str]]] = dataclasses.field(
        default_factory=_default_invariance_values)
    invariance_tolerance: float = 0.02
    # directional: mean(pred(perturbed)) - mean(pred(original)) must be >= -tolerance, over the
    # examples where the feature is present. The tolerance absorbs float32 rounding: a model that
    # ignores the feature can still show a delta of ~1e-8 when original and perturbed examples are
    # scored in differently sized batches.
    directional_perturbations: List[Dict[str, Any]] = dataclasses.field(
        default_factory=_default_directional)
    directional_tolerance: float = 1e-6
    # slices: recall at features.DECISION_THRESHOLD per slice value with >= min_slice_examples.
    slice_feature: str = "carrier"
    min_slice_examples: int = 50
    min_slice_recall: float = 0.1
    slice_regression_tolerance: float = 0.05
    # serving signature: sample size for the raw-feature call, and allowed disagreement between
    # serving_default and serving_tf_example on the same complete examples.
    signature_sample_size: int = 16
    signature_consistency_tolerance: float = 1e-4
    # budgets
    latency_budget_ms: float = 100.0
    latency_calls: int = 15
    size_budget_mb: float = 200.0

    def __post_init__(self):
        self.validate()

    def validate(self) -> None:
        """Raises ValueError naming the first bad field."""
        for name in ("batch_size", "min_slice_examples", "signature_sample_size", "latency_calls"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"model validator config: {name} must be an integer >= 1, got {value!r}")
        for name in ("invariance_tolerance", "directional_tolerance", "min_slice_recall",
                     "slice_regression_tolerance", "signature_consistency_tolerance",
                     "latency_budget_ms", "size_budget_mb"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                raise ValueError(f"model validator config: {name} must be a number >= 0, got {value!r}")
        if self.slice_feature not in features.FEATURE_KEYS:
            raise ValueError(f"model validator config: slice_feature {self.slice_feature!r} is not a "
                             f"feature of pipeline/features.py")
        if not isinstance(self.invariance_values, dict):
            raise ValueError("model validator config: invariance_values must be an object "
                             f"feature -> list of values, got {self.invariance_values!r}")
        for feature, values in self.invariance_values.items():
            if feature not in features.FEATURE_KEYS:
                raise ValueError(f"model validator config: invariance_values feature {feature!r} is not a "
                                 "feature of pipeline/features.py")
            if not isinstance(values, list) or not values:
                raise ValueError(f"model validator config: invariance_values[{feature!r}] must be a "
                                 f"non-empty list, got {values!r}")
        names = set()
        for i, p in enumerate(self.directional_perturbations):
            where = f"model validator config: directional_perturbations[{i}]"
            if not isinstance(p, dict) or set(p) != {"name", "feature", "op", "value"}:
                raise ValueError(f"{where} must have exactly the keys name, feature, op, value; got {p!r}")
            if p["feature"] not in features.WEATHER_FEATURES:
                raise ValueError(f"{where}: feature {p['feature']!r} is not a float (weather) feature")
            if p["op"] not in _OPS:
                raise ValueError(f"{where}: op {p['op']!r} is not one of {_OPS}")
            if not isinstance(p["value"], (int, float)) or isinstance(p["value"], bool):
                raise ValueError(f"{where}: value {p['value']!r} is not a number")
            if p["name"] in names:
                raise ValueError(f"{where}: duplicate name {p['name']!r}")
            names.add(p["name"])

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_dict(cls, values: Optional[Mapping[str, Any]]) -> "ValidatorConfig":
        values = dict(values or {})
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"model validator config: unknown key(s) {unknown}; known keys: "
                             f"{sorted(known)}")
        return cls(**values)

    @classmethod
    def from_json(cls, text: Optional[str]) -> "ValidatorConfig":
        if not text:
            return cls()
        try:
            values = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(f"model validator config is not valid JSON ({e}): {text[:200]!r}") from e
        if not isinstance(values, dict):
            raise ValueError(f"model validator config must be a JSON object, got {text[:200]!r}")
        return cls.from_dict(values)


DEFAULT_CONFIG = ValidatorConfig()
