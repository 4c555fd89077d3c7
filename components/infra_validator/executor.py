"""InfraValidator executor: TFX's executor plus a local-process serving platform.

TFX's blessing, warmup and retry logic is reused as is. Changes:
- a ServingSpec without `local_docker` / `kubernetes` runs the model server as a local process
  (`_ValidateOnce` override; the other platforms are delegated to TFX): the real binary when
  installed, else the `server_command` exec property (JSON list);
- a ServingSpec with no tensorflow_serving tag/digest is rejected (TFX would bless unchecked);
- in LOAD_AND_QUERY mode a model whose requested signatures cannot take serialized tf.Examples
  is INFRA_NOT_BLESSED (TFX's request builder would fail the component instead).
"""
import json
import time
from typing import Any, Dict, List, Optional

from absl import logging
from tfx import types
from tfx.components.infra_validator import error_types
from tfx.components.infra_validator import executor as tfx_executor
from tfx.components.infra_validator import serving_bins
from tfx.components.infra_validator import types as iv_types
from tfx.proto import infra_validator_pb2
from tfx.types import standard_component_specs
from tfx.utils import path_utils
from tfx.utils import proto_utils

from components.infra_validator import local_process_runner
from components.infra_validator import model_server_process
from components.infra_validator import signature_check
from components.infra_validator import specs

_STATUS_POLL_SEC = 0.5
SERVER_COMMAND_KEY = "server_command"


class Executor(tfx_executor.Executor):
    """TFX InfraValidator executor that can also serve the model as a local process."""

    _fallback_command = ()  # from exec property SERVER_COMMAND_KEY, set by Do

    def Do(self, input_dict: Dict[str, List[types.Artifact]],
           output_dict: Dict[str, List[types.Artifact]],
           exec_properties: Dict[str, Any]) -> None:
        serving_spec = infra_validator_pb2.ServingSpec()
        proto_utils.json_to_proto(
            exec_properties[standard_component_specs.SERVING_SPEC_KEY], serving_spec)
        specs.check_serving_spec(serving_spec)
        self._fallback_command = json.loads(exec_properties.get(SERVER_COMMAND_KEY) or "[]")
        super().Do(input_dict, output_dict, exec_properties)

    def _Do(self, model: types.Artifact, examples: Optional[types.Artifact],
            blessing: types.Artifact, serving_spec: infra_validator_pb2.ServingSpec,
            validation_spec: infra_validator_pb2.ValidationSpec,
            request_spec: Optional[infra_validator_pb2.RequestSpec]):
        if examples and request_spec and request_spec.WhichOneof("kind") == "tensorflow_serving":
            model_dir = path_utils.serving_model_path(
                model.uri, path_utils.is_old_model_artifact(model))
            problem = signature_check.find_request_problem(
                model_dir, tag_set=request_spec.tensorflow_serving.tag_set,
                signature_names=request_spec.tensorflow_serving.signature_names)
            if problem:
                logging.error("Model cannot be queried with tf.Example requests: %s", problem)
                tfx_executor._mark_not_blessed(blessing)  # pylint: disable=protected-access
                return
        super()._Do(model=model, examples=examples, blessing=blessing,
                    serving_spec=serving_spec, validation_spec=validation_spec,
                    request_spec=request_spec)

    def _ValidateOnce(self, model_path: str, serving_binary: serving_bins.ServingBinary,
                      serving_spec: infra_validator_pb2.ServingSpec,
                      validation_spec: infra_validator_pb2.ValidationSpec,
                      requests: List[iv_types.Request]):
        if not specs.is_local_process(serving_spec):
            return super()._ValidateOnce(
                model_path=model_path, serving_binary=serving_binary,
                serving_spec=serving_spec, validation_spec=validation_spec, requests=requests)

        deadline = time.time() + validation_spec.max_loading_time_seconds
        try:
            command = model_server_process.server_command(self._fallback_command)
        except FileNotFoundError as exc:
            raise error_types.JobAborted(str(exc)) from exc
        runner = local_process_runner.LocalProcessRunner(
            model_path=model_path, model_name=serving_spec.model_name, command=command)
        try:
            logging.info("Starting %r.", runner)
            runner.Start()
            runner.WaitUntilRunning(deadline)
            client = serving_binary.MakeClient(runner.GetEndpoint())
            # Poll in short slices so a server that dies while loading fails fast.
            while True:
                runner.CheckAlive()
                try:
                    client.WaitUntilModelLoaded(min(deadline, time.time() + 2),
                                                polling_interval_sec=_STATUS_POLL_SEC)
                    break
                except error_types.DeadlineExceeded:
                    if time.time() >= deadline:
                        raise
            if requests:
                client.SendRequests(requests)
                logging.info("Model answered %d request(s).", len(requests))
        except Exception:  # pylint: disable=broad-except
            logging.exception("Error occurred during infra validation.")
            logging.error("Model server log:\nBEGIN_MODEL_SERVER_LOG\n%s\nEND_MODEL_SERVER_LOG",
                          runner.GetLogs() or "(none)")
            raise
        finally:
            logging.info("Stopping %r.", runner)
            runner.Stop()
