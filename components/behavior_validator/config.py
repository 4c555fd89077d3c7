"""Parameters of the behaviour checks: the model's contract (keys, signatures, features) and thresholds.

A JSON object. The contract keys (label_key, prediction_key, examples_signature, examples_input,
decision_threshold, slice_feature, group_by_features) have no default: they are facts of the project
using the component.
"""
import dataclasses
import json
from typing import Any, Dict, List, Mapping, Optional, Union

_OPS = ("add", "multiply", "set")
_WHERE = "behavior validator config"


@dataclasses.dataclass
class BehaviorValidatorConfig:
    """The model's contract, the perturbations and the thresholds. Defaults are in README.md."""
    # ---- the model's contract (required)
    label_key: str                  # int 0/1 label of the eval tf.Examples
    prediction_key: str             # output of both signatures: float32 [None] in [0, 1]
    examples_signature: str         # signature taking serialized tf.Examples
    examples_input: str             # its input name (string [None])
    decision_threshold: float       # a prediction >= threshold counts as positive (recall)
    slice_feature: str              # recall is checked per value of this feature
    # The unit of independence: examples with the same values of these features (e.g. the flights of
    # one day: ["month", "day"]) share what makes them vary together, so every test resamples or
    # aggregates whole groups, never single examples.
    group_by_features: List[str]
    serving_signature: str = "serving_default"  # signature taking raw feature tensors, each [None]
    # modules whose import registers custom ops (e.g. tensorflow_decision_forests); imported only when
    # a SavedModel fails to load for an unregistered op
    op_modules: List[str] = dataclasses.field(default_factory=list)
    batch_size: int = 256
    # invariance: replace each feature by each value; max |prediction delta| must stay <= tolerance.
    invariance_values: Dict[str, List[Union[int, float, str]]] = dataclasses.field(default_factory=dict)
    invariance_tolerance: float = 0.02
    # directional: per perturbation, over the examples where the feature is present, a one-sided
    # paired t-test of H0: mean(pred(perturbed) - pred(original)) >= -directional_tolerance; FAIL when
    # rejected. Only `perturbable_features` (float features) may be perturbed. The tolerance absorbs
    # float32 rounding: a model that ignores the feature can still show deltas of ~1e-8 when original
    # and perturbed examples are scored in differently sized batches.
    perturbable_features: List[str] = dataclasses.field(default_factory=list)
    directional_perturbations: List[Dict[str, Any]] = dataclasses.field(default_factory=list)
    directional_tolerance: float = 1e-6
    # slices: recall at decision_threshold per slice value with >= min_slice_examples examples,
    # >= min_slice_positives positives and positives in >= min_groups groups. slice_min_recall: exact
    # binomial test on the effective number of positives of H0: recall >= min_slice_recall.
    # slice_regression_vs_baseline: paired block bootstrap over groups of H0: baseline recall -
    # candidate recall <= slice_regression_tolerance.
    min_slice_examples: int = 50
    min_slice_positives: int = 20
    min_slice_recall: float = 0.1
    slice_regression_tolerance: float = 0.05
    # auc_vs_baseline: paired block bootstrap over groups of H0: baseline AUC - candidate AUC <=
    # auc_regression_tolerance (FAIL when rejected: the candidate is significantly worse by more).
    auc_regression_tolerance: float = 0.01
    # A test needs >= min_groups groups (fewer cannot estimate the group-to-group variance); below it
    # the test is SKIPPED.
    min_groups: int = 7
    # false-alarm rate: every test above is one family, Holm-corrected at alpha.
    alpha: float = 0.05
    bootstrap_resamples: int = 10_000
    bootstrap_seed: int = 0
    # serving signature: sample size for the raw-feature call, and allowed disagreement between the
    # two signatures on the same complete examples.
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
        for name in ("label_key", "prediction_key", "examples_signature", "examples_input",
                     "serving_signature", "slice_feature"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise ValueError(f"{_WHERE}: {name} must be a non-empty string, got {value!r}")
        for name in ("batch_size", "min_slice_examples", "min_slice_positives", "min_groups",
                     "bootstrap_resamples", "signature_sample_size", "latency_calls"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{_WHERE}: {name} must be an integer >= 1, got {value!r}")
        for name in ("decision_threshold", "invariance_tolerance", "directional_tolerance",
                     "min_slice_recall", "slice_regression_tolerance", "auc_regression_tolerance", "alpha",
                     "signature_consistency_tolerance", "latency_budget_ms", "size_budget_mb"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{_WHERE}: {name} must be a number >= 0, got {value!r}")
        for name in ("decision_threshold", "min_slice_recall"):
            if getattr(self, name) > 1:
                raise ValueError(f"{_WHERE}: {name} must be in [0, 1], got {getattr(self, name)!r}")
        if not 0 < self.alpha < 1:
            raise ValueError(f"{_WHERE}: alpha must be in (0, 1), got {self.alpha!r}")
        if not isinstance(self.bootstrap_seed, int) or isinstance(self.bootstrap_seed, bool) \
                or self.bootstrap_seed < 0:
            raise ValueError(f"{_WHERE}: bootstrap_seed must be an integer >= 0, got {self.bootstrap_seed!r}")
        if not isinstance(self.group_by_features, list) or not self.group_by_features or not all(
                isinstance(f, str) and f for f in self.group_by_features):
            raise ValueError(f"{_WHERE}: group_by_features must be a non-empty list of feature names, "
                             f"got {self.group_by_features!r}")
        if not isinstance(self.invariance_values, dict):
            raise ValueError(f"{_WHERE}: invariance_values must be an object feature -> list of values, "
                             f"got {self.invariance_values!r}")
        for feature, values in self.invariance_values.items():
            if not isinstance(values, list) or not values:
                raise ValueError(f"{_WHERE}: invariance_values[{feature!r}] must be a non-empty list, "
                                 f"got {values!r}")
        if not isinstance(self.perturbable_features, list) or not all(
                isinstance(f, str) and f for f in self.perturbable_features):
            raise ValueError(f"{_WHERE}: perturbable_features must be a list of feature names, "
                             f"got {self.perturbable_features!r}")
        if not isinstance(self.op_modules, list) or not all(isinstance(m, str) and m for m in self.op_modules):
            raise ValueError(f"{_WHERE}: op_modules must be a list of module names, got {self.op_modules!r}")
        names = set()
        for i, p in enumerate(self.directional_perturbations):
            where = f"{_WHERE}: directional_perturbations[{i}]"
            if not isinstance(p, dict) or set(p) != {"name", "feature", "op", "value"}:
                raise ValueError(f"{where} must have exactly the keys name, feature, op, value; got {p!r}")
            if p["feature"] not in self.perturbable_features:
                raise ValueError(f"{where}: feature {p['feature']!r} is not one of perturbable_features "
                                 f"{self.perturbable_features}")
            if p["op"] not in _OPS:
                raise ValueError(f"{where}: op {p['op']!r} is not one of {_OPS}")
            if not isinstance(p["value"], (int, float)) or isinstance(p["value"], bool):
                raise ValueError(f"{where}: value {p['value']!r} is not a number")
            if p["name"] in names:
                raise ValueError(f"{where}: duplicate name {p['name']!r}")
            names.add(p["name"])

    def validate_against_schema(self, schema_features: Mapping[str, str]) -> None:
        """Raises ValueError when a configured feature is not a serving feature of the schema, or a
        perturbable feature is not float32 (schema_features: name -> dtype name)."""
        used = [("slice_feature", self.slice_feature)]
        used += [("group_by_features", f) for f in self.group_by_features]
        used += [("invariance_values", f) for f in self.invariance_values]
        used += [("perturbable_features", f) for f in self.perturbable_features]
        for key, feature in used:
            if feature not in schema_features:
                raise ValueError(f"{_WHERE}: {key} names {feature!r}, which is not a serving feature of "
                                 f"the schema (features: {sorted(schema_features)})")
        for feature in self.perturbable_features:
            if schema_features[feature] != "float32":
                raise ValueError(f"{_WHERE}: perturbable_features names {feature!r}, which is "
                                 f"{schema_features[feature]} in the schema, not float32")

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_dict(cls, values: Optional[Mapping[str, Any]]) -> "BehaviorValidatorConfig":
        values = dict(values or {})
        fields = dataclasses.fields(cls)
        known = {f.name for f in fields}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"{_WHERE}: unknown key(s) {unknown}; known keys: {sorted(known)}")
        required = [f.name for f in fields
                    if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
        missing = [k for k in required if k not in values]
        if missing:
            raise ValueError(f"{_WHERE}: missing required key(s) {missing} (the model's contract: "
                             f"{required})")
        return cls(**values)

    @classmethod
    def from_json(cls, text: Optional[str]) -> "BehaviorValidatorConfig":
        try:
            values = json.loads(text or "{}")
        except json.JSONDecodeError as e:
            raise ValueError(f"{_WHERE} is not valid JSON ({e}): {text[:200]!r}") from e
        if not isinstance(values, dict):
            raise ValueError(f"{_WHERE} must be a JSON object, got {text[:200]!r}")
        return cls.from_dict(values)

    def replace(self, **changes) -> "BehaviorValidatorConfig":
        """A copy with some fields changed (validated)."""
        return dataclasses.replace(self, **changes)
