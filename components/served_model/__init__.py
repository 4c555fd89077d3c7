"""ServedModel: the model a serving destination serves (its `stable` label, else the newest push), as a
Model artifact; and an Evaluator that accepts it when nothing is served yet."""
from components.served_model.served import labelled_version, served_version, versions

__all__ = ["Evaluator", "ServedModel", "has_model", "labelled_version", "served_version", "versions"]


def __getattr__(name):  # the TFX pieces lazily: importing the version logic stays cheap
    if name in ("ServedModel", "has_model"):
        from components.served_model import component
        return getattr(component, name)
    if name == "Evaluator":
        from components.served_model.evaluator import Evaluator
        return Evaluator
    raise AttributeError(name)
