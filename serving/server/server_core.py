"""Model/version lifecycle like TF Serving's ServerCore + AspiredVersionsManager.

* Each model has a base path with numeric version sub-directories; the version policy (latest N
  default 1, all, specific) picks the aspired versions on every file-system poll.
* Availability preserving: new versions are loaded before un-aspired ones are unloaded, and an
  un-aspired version stays while it is the only AVAILABLE one. Requests hold a reference to the
  servable they resolved, so an unload never cuts an in-flight request.
* A version that fails to load (after --max_num_load_retries) ends in END with its error status and
  does not disturb the serving version.
* version_labels map a label to a version; they may only point at AVAILABLE versions (checked
  before the config changes anything), unless --allow_version_labels_for_unavailable_models, which
  allows new labels (not moving an existing one) on any version.
* A config is checked whole before it changes anything (server_core.cc ReloadConfig,
  ValidateModelConfigList, GetPlatform); then new models are awaited (retries included) and a new
  model whose latest version does not become AVAILABLE is an error (at start-up: the server exits).
* logging_config: the request loggers follow each accepted config (serving/server/request_log.py);
  unlike the binary, which has no request-logger creator and refuses any logging_config.
"""
import logging
import os
import threading
import time
from dataclasses import dataclass, field

import grpc

from serving.server import errors, request_log

log = logging.getLogger("serving.server.model_server")

STATES = {"UNKNOWN": 0, "START": 10, "LOADING": 20, "AVAILABLE": 30, "UNLOADING": 40, "END": 50}


@dataclass
class VersionState:
    version: int
    state: str = "START"
    error_code: grpc.StatusCode = grpc.StatusCode.OK
    error_message: str = ""
    servable: object = None
    attempts: int = 0
    next_attempt: float = 0.0


@dataclass
class ManagedModel:
    config: object  # tensorflow.serving.ModelConfig
    versions: dict = field(default_factory=dict)  # int -> VersionState
    labels: dict = field(default_factory=dict)  # str -> int

    @property
    def name(self) -> str:
        return self.config.name


def list_versions(base_path: str) -> list:
    """Numeric sub-directories of base_path (TF Serving ignores anything else)."""
    import tensorflow as tf
    try:
        children = tf.io.gfile.listdir(base_path)
    except Exception:  # base path missing: no versions (TF Serving logs and keeps polling)
        return []
    versions = []
    for child in children:
        child = child.rstrip("/")
        if child.isdigit() and tf.io.gfile.isdir(os.path.join(base_path, child)):
            versions.append(int(child))
    return sorted(versions)


def aspired_versions(policy, on_disk: list) -> set:
    """Apply a FileSystemStoragePathSourceConfig.ServableVersionPolicy to the versions found on disk."""
    kind = policy.WhichOneof("policy_choice") if policy is not None else None
    if kind == "all":
        return set(on_disk)
    if kind == "specific":
        return set(on_disk) & set(policy.specific.versions)
    num = policy.latest.num_versions if kind == "latest" and policy.latest.num_versions else 1
    return set(sorted(on_disk)[-num:]) if on_disk else set()


def _is_relative_path(uri: str) -> bool:
    """server_core.cc UriIsRelativePath: no scheme://host and not an absolute path."""
    return "://" not in uri and not uri.startswith("/")


def validate_config(config) -> None:
    """Reject model_config_lists the real server rejects (ValidateModelConfigList, GetPlatform)."""
    names = set()
    for model in config.model_config_list.config:
        if model.name in names:
            raise errors.invalid_argument(f"Illegal to list model {model.name} multiple times in config list")
        names.add(model.name)
    for model in config.model_config_list.config:
        if _is_relative_path(model.base_path):
            raise errors.invalid_argument(
                f"Expected model {model.name} to have an absolute path or URI; got base_path()={model.base_path}")
    for model in config.model_config_list.config:
        if not model.model_platform:
            raise errors.invalid_argument(
                "Illegal setting neither ModelServerConfig::model_type (deprecated) nor"
                f" ModelServerConfig::model_platform, model name is {model.name}")
        if model.model_platform != "tensorflow":
            raise errors.invalid_argument(
                f"Model {model.name} requests unsupported platform {model.model_platform}")


class ServerCore:
    """Holds the served models, resolves requests to servables and runs the version poller."""

    def __init__(self, *, file_system_poll_wait_seconds: int = 1, max_num_load_retries: int = 5,
                 load_retry_interval_micros: int = 60_000_000, enable_model_warmup: bool = True,
                 num_request_iterations_for_warmup: int = 1, saved_model_tags=("serve",),
                 allow_version_labels_for_unavailable_models: bool = False, batching=None, loader=None,
                 request_logger=None):
        self.poll_wait = file_system_poll_wait_seconds
        self.max_num_load_retries = max_num_load_retries
        self.load_retry_interval = load_retry_interval_micros / 1e6
        self.enable_model_warmup = enable_model_warmup
        self.warmup_iterations = num_request_iterations_for_warmup
        self.saved_model_tags = tuple(saved_model_tags)
        self.allow_unavailable_labels = allow_version_labels_for_unavailable_models
        self.batching = batching  # serving.server.batching.BatchingOptions when --enable_batching
        self._loader = loader or self._load_servable
        self._models = {}  # name -> ManagedModel
        self._config = None  # the last accepted ModelServerConfig
        self._lock = threading.RLock()  # guards _models and each model's dicts
        self._reload_lock = threading.Lock()  # serialises polls and config reloads
        self._stop = threading.Event()
        self._thread = None
        self.on_load_listeners = []
        # ServerCore::Log's server_request_logger: one RequestLogger per logging_config.
        self.request_logger = request_logger or request_log.ServerRequestLogger(self.saved_model_tags)

    # ---- config -----------------------------------------------------------------------------
    def reload_config(self, config) -> None:
        """HandleReloadConfigRequest / start-up semantics of ServerCore::ReloadConfig.

        Refused (nothing changes): a transition other than model_config_list -> model_config_list,
        an invalid list, a label on a version that is not AVAILABLE now. Then labels are set, the
        model set is replaced, and new models are awaited: ServingError(UNKNOWN) if one does not
        become AVAILABLE (its config stays applied, as in the binary).
        """
        with self._reload_lock:
            first = self._config is None
            kind = config.WhichOneof("config")
            if not first and kind != "model_config_list":
                raise errors.failed_precondition(
                    "Cannot transition to requested config. It is only legal to transition from one"
                    " ModelConfigList to another.")
            if kind is None:
                log.info("Taking no action for empty config.")
                return
            if kind == "custom_model_config":
                raise errors.ServingError(grpc.StatusCode.UNIMPLEMENTED,
                                          "ModelServer does not yet support custom model config.")
            validate_config(config)
            request_log.validate(config)
            labels = self._checked_labels(config)
            with self._lock:
                old = self._models
                new = {}
                for model_config in config.model_config_list.config:
                    previous = old.get(model_config.name)
                    managed = ManagedModel(config=model_config, labels=labels[model_config.name])
                    if previous is not None and previous.config.base_path == model_config.base_path:
                        managed.versions = previous.versions
                    new[model_config.name] = managed
                removed = [m for name, m in old.items() if name not in new or new[name].versions is not m.versions]
                self._models = new
                self._config = config
            self.request_logger.update(config)
            for model in removed:
                for vs in list(model.versions.values()):
                    self._unload(model, vs)
            for model in list(new.values()):
                self._poll_model(model)
            self._await_models([name for name in new if first or name not in old])

    def _checked_labels(self, config) -> dict:
        """{model: {label: version}} of `config`, or FAILED_PRECONDITION (UpdateModelVersionLabelMap)."""
        result = {}
        with self._lock:
            for model_config in config.model_config_list.config:
                current = self._models.get(model_config.name)
                for label, version in model_config.version_labels.items():
                    allowed = False
                    if self.allow_unavailable_labels:  # new labels only, not moving an existing one
                        existing = current.labels.get(label) if current is not None else None
                        allowed = existing is None or existing == version
                    vs = current.versions.get(version) if current is not None else None
                    if not allowed and (vs is None or vs.state != "AVAILABLE"):
                        raise errors.failed_precondition(
                            f"Request to assign label to version {version} of model {model_config.name},"
                            f" which is not currently available for inference")
                result[model_config.name] = dict(model_config.version_labels)
        return result

    def _await_models(self, names: list) -> None:
        """Poll until each model's newest version is AVAILABLE or END (load retries included).

        Waits while a model has no version on disk, like the binary. ServingError(UNKNOWN) naming
        the models whose newest version ended without becoming AVAILABLE.
        """
        pending = list(names)
        failed = []
        last_poll = time.monotonic()
        while pending and not self._stop.is_set():
            waiting = []
            for name in pending:
                model = self._models.get(name)
                if model is None:
                    continue
                with self._lock:
                    newest = model.versions[max(model.versions)] if model.versions else None
                    settled = newest is not None and newest.state in ("AVAILABLE", "END")
                if not settled:
                    waiting.append(model)
                elif newest.state == "END":
                    failed.append(f"{{name: {name} version: {newest.version}}} due to error:"
                                  f" {newest.error_code.name}: {newest.error_message}")
            pending = [m.name for m in waiting]
            if not pending:
                break
            retry_at = [vs.next_attempt for m in waiting for vs in m.versions.values() if vs.state == "LOADING"]
            delay = max(0.05, min(retry_at) - time.monotonic()) if retry_at else max(self.poll_wait, 1)
            if self._stop.wait(min(delay, 1.0)):
                break
            # New versions appear on file-system polls only; due load retries run in between.
            poll = self.poll_wait > 0 and time.monotonic() - last_poll >= self.poll_wait
            last_poll = time.monotonic() if poll else last_poll
            for model in waiting:
                if poll:
                    self._poll_model(model)
                else:
                    for vs in list(model.versions.values()):
                        if vs.state == "LOADING" and time.monotonic() >= vs.next_attempt:
                            self._load(model, vs)
        if failed:
            raise errors.ServingError(grpc.StatusCode.UNKNOWN, f"{len(failed)} servable(s) did not become"
                                      f" available: {{{', '.join(failed)}}}")

    # ---- polling ----------------------------------------------------------------------------
    def poll_once(self) -> None:
        with self._reload_lock:
            with self._lock:
                models = list(self._models.values())
            for model in models:
                self._poll_model(model)

    def _poll_model(self, model: ManagedModel) -> None:
        on_disk = list_versions(model.config.base_path)
        aspired = aspired_versions(model.config.model_version_policy
                                   if model.config.HasField("model_version_policy") else None, on_disk)
        if not on_disk and not model.versions:
            log.warning("No versions of servable %s found under base path %s", model.name,
                        model.config.base_path)
        # 1. load new aspired versions (newest first, like the availability-preserving policy)
        for version in sorted(aspired, reverse=True):
            vs = model.versions.get(version)
            if vs is not None and (vs.state == "AVAILABLE" or (vs.state == "END" and vs.error_code != grpc.StatusCode.OK)):
                continue
            if vs is not None and vs.state == "LOADING" and time.monotonic() < vs.next_attempt:
                continue
            if vs is None or vs.state == "END":
                vs = VersionState(version=version)
                with self._lock:
                    model.versions[version] = vs
            self._load(model, vs)
        # 2. unload un-aspired versions while another version stays available
        for version in sorted(model.versions):
            vs = model.versions[version]
            if version in aspired or vs.state in ("END",):
                continue
            if vs.state == "LOADING":  # retrying a version that is no longer aspired: give up
                with self._lock:
                    vs.state = "END"
                continue
            others = [v for v in model.versions.values() if v is not vs and v.state == "AVAILABLE"]
            if others:
                self._unload(model, vs)

    def _load(self, model: ManagedModel, vs: VersionState) -> None:
        path = os.path.join(model.config.base_path, str(vs.version))
        with self._lock:
            vs.state = "LOADING"
        log.info("Loading servable: {name: %s version: %d} from %s", model.name, vs.version, path)
        started = time.monotonic()
        try:
            servable = self._loader(model.name, vs.version, path)
            if self.enable_model_warmup:
                replayed = servable.warmup(self.warmup_iterations)
                if replayed:
                    log.info("Finished reading warmup data for model at %s. Number of warmup records"
                             " read: %d.", path, replayed)
        except Exception as exc:  # any load failure ends this version, never the server
            err = errors.from_exception(exc)
            vs.attempts += 1
            with self._lock:
                if vs.attempts <= self.max_num_load_retries:
                    vs.next_attempt = time.monotonic() + self.load_retry_interval
                    log.error("Loading servable %s version %d failed (attempt %d), retrying: %s",
                              model.name, vs.version, vs.attempts, err)
                    return
                vs.state = "END"
                vs.error_code = err.code
                vs.error_message = err.message
            log.error("Loading servable: {name: %s version: %d} failed: %s", model.name, vs.version, err)
            return
        with self._lock:
            vs.servable = servable
            vs.state = "AVAILABLE"
            vs.error_code, vs.error_message = grpc.StatusCode.OK, ""
        log.info("Successfully loaded servable version {name: %s version: %d} in %.2fs", model.name,
                 vs.version, time.monotonic() - started)
        for listener in self.on_load_listeners:
            listener(model.name, vs.version)

    def _unload(self, model: ManagedModel, vs: VersionState) -> None:
        with self._lock:
            if vs.state == "END":
                return
            vs.state = "UNLOADING"
            vs.servable = None  # in-flight requests keep their own reference
            vs.state = "END"
            vs.error_code, vs.error_message = grpc.StatusCode.OK, ""
        log.info("Unloaded servable version {name: %s version: %d}", model.name, vs.version)

    def _load_servable(self, name: str, version: int, path: str):
        from serving.server.servable import Servable
        return Servable(name, version, path, tags=self.saved_model_tags, batching=self.batching)

    def start_polling(self) -> None:
        """Poll every file_system_poll_wait_seconds (0: never again; <0: polling disabled)."""
        if self.poll_wait <= 0 or self._thread is not None:
            return

        def loop():
            while not self._stop.wait(self.poll_wait):
                try:
                    self.poll_once()
                except Exception:  # keep polling; a bad poll must not stop the server
                    log.exception("File system poll failed")

        self._thread = threading.Thread(target=loop, name="fs-poller", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    # ---- lookups ----------------------------------------------------------------------------
    def model_names(self) -> list:
        with self._lock:
            return list(self._models)

    def resolve_version(self, name: str, version: int = None, label: str = None) -> int:
        """Version a request addresses (None = latest) or raise like TF Serving."""
        with self._lock:
            model = self._models.get(name)
            if label:
                if model is None or label not in model.labels:
                    raise errors.invalid_argument(f"Unrecognized servable version label: {label}")
                return model.labels[label]
            return version

    def servable(self, name: str, version: int = None, label: str = None):
        """The Servable answering a model_spec (latest AVAILABLE when no version/label)."""
        version = self.resolve_version(name, version, label)
        with self._lock:
            model = self._models.get(name)
            if version is None:
                available = [] if model is None else [
                    v for v in model.versions.values() if v.state == "AVAILABLE"]
                if not available:
                    raise errors.not_found(f"Servable not found for request: Latest({name})")
                return max(available, key=lambda v: v.version).servable
            vs = None if model is None else model.versions.get(version)
            if vs is None or vs.state != "AVAILABLE" or vs.servable is None:
                raise errors.not_found(f"Servable not found for request: Specific({name}, {version})")
            return vs.servable

    def version_states(self, name: str, version: int = None) -> list:
        """VersionStates for GetModelStatus, newest first."""
        with self._lock:
            model = self._models.get(name)
            if model is None or not model.versions:
                raise errors.not_found(f"Could not find any versions of model {name}")
            if version is not None:
                vs = model.versions.get(version)
                if vs is None:
                    raise errors.not_found(f"Could not find version {version} of model {name}")
                return [_copy(vs)]
            return [_copy(v) for _, v in sorted(model.versions.items(), reverse=True)]

    def labels(self, name: str) -> dict:
        with self._lock:
            model = self._models.get(name)
            return dict(model.labels) if model else {}


def _copy(vs: VersionState) -> VersionState:
    return VersionState(version=vs.version, state=vs.state, error_code=vs.error_code,
                        error_message=vs.error_message)
