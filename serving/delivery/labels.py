"""Version labels in a models.config (ModelServerConfig text): read, write atomically, set, promote, rollback.

`python -m serving labels promote|rollback|set` applies these and makes the server reload the file.
"""
from serving.server.protos import write_model_config  # noqa: F401 (written where the server reads it)


def read_model_config(path: str):
    from serving.server import protos
    return protos.model_server_config(path)


def find_model(config, model_name: str):
    for model in config.model_config_list.config:
        if model.name == model_name:
            return model
    names = [m.name for m in config.model_config_list.config]
    raise ValueError(f"model {model_name!r} is not in the model config (models: {names})")


def set_label(config, model_name: str, label: str, version: int):
    """Point `label` at `version`, adding the version to a `specific` policy when needed."""
    model = find_model(config, model_name)
    policy = model.model_version_policy
    if policy.WhichOneof("policy_choice") == "specific" and version not in policy.specific.versions:
        policy.specific.versions.append(version)
    model.version_labels[label] = int(version)
    return config


def promote(config, model_name: str):
    """stable <- canary (the canary version becomes stable). Returns (old stable, new stable)."""
    model = find_model(config, model_name)
    if "canary" not in model.version_labels:
        raise ValueError(f"model {model_name!r} has no 'canary' label to promote")
    old = model.version_labels.get("stable")
    model.version_labels["stable"] = model.version_labels["canary"]
    return old, model.version_labels["stable"]


def rollback(config, model_name: str, version: int = None):
    """stable <- `version`, or the highest served version below the current stable."""
    model = find_model(config, model_name)
    if "stable" not in model.version_labels:
        raise ValueError(f"model {model_name!r} has no 'stable' label to roll back")
    current = model.version_labels["stable"]
    if version is None:
        candidates = sorted(v for v in _known_versions(model) if v < current)
        if not candidates:
            raise ValueError(f"no version older than stable={current} to roll back to for {model_name!r}")
        version = candidates[-1]
    set_label(config, model_name, "stable", version)
    return current, version


def _known_versions(model) -> set:
    from serving.server.server_core import list_versions
    versions = set(model.version_labels.values())
    policy = model.model_version_policy
    if policy.WhichOneof("policy_choice") == "specific":
        versions |= set(policy.specific.versions)
    else:
        versions |= set(list_versions(model.base_path))
    return versions
