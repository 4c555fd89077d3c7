"""PushedModel artifacts in a real MLMD store, as TFX's Pusher writes them (for the registry tests)."""
from ml_metadata.proto import metadata_store_pb2

from serving.delivery import registry


def record_push(store, model_name: str, version: int, pushed: int = 1, destination: str = None) -> int:
    """One PushedModel artifact (custom properties pushed, pushed_version, pushed_destination); its id."""
    type_id = store.put_artifact_type(metadata_store_pb2.ArtifactType(name=registry.PUSHED_MODEL_TYPE))
    destination = destination or f"/serving/{model_name}/{version}"
    artifact = metadata_store_pb2.Artifact(type_id=type_id, uri=destination)
    artifact.custom_properties["pushed"].int_value = pushed
    artifact.custom_properties["pushed_version"].string_value = str(version)
    artifact.custom_properties["pushed_destination"].string_value = destination
    return store.put_artifacts([artifact])[0]
