"""Submit a compiled pipeline job to Vertex Pipelines through the Vertex AI SDK (`aiplatform.PipelineJob`).

Credentials come from the environment (Application Default Credentials) unless given; nothing secret
goes into the job or the output. `api_endpoint` points the SDK at another endpoint (a private one,
or a local stand-in: an `http://` endpoint is spoken to over REST).
"""
from typing import Dict, Optional

from pipeline.vertex import spec as vertex_spec


def parse_labels(pairs) -> Dict[str, str]:
    """`k=v` strings -> {k: v}; a malformed pair is an error naming it."""
    labels = {}
    for pair in pairs or ():
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"label {pair!r}: expected KEY=VALUE")
        labels[key] = value
    return labels


def pipeline_job(spec_path: str, *, project: str, region: str, labels: Optional[Dict[str, str]] = None,
                 enable_caching: bool = True, display_name: Optional[str] = None,
                 parameter_values: Optional[Dict] = None, credentials=None, api_endpoint: Optional[str] = None):
    """The SDK's PipelineJob for a compiled spec (read strictly first), not yet submitted."""
    from google.cloud import aiplatform

    job = vertex_spec.load(spec_path)
    aiplatform.init(project=project, location=region, credentials=credentials, api_endpoint=api_endpoint,
                    api_transport="rest" if (api_endpoint or "").startswith("http://") else None)
    return aiplatform.PipelineJob(
        display_name=display_name or job.job.display_name, template_path=spec_path,
        pipeline_root=job.job.runtime_config.gcs_output_directory or None,
        parameter_values=parameter_values or {}, enable_caching=enable_caching, labels=labels or None,
        project=project, location=region, credentials=credentials)


def submit(spec_path: str, *, project: str, region: str, service_account: Optional[str] = None,
           network: Optional[str] = None, dry_run: bool = False, **job_options) -> Dict:
    """Creates the pipeline job (unless dry_run) and returns {name, state, job}."""
    job = pipeline_job(spec_path, project=project, region=region, **job_options)
    if dry_run:
        request = job.to_dict()
        request.update({k: v for k, v in (("serviceAccount", service_account), ("network", network)) if v})
        return {"name": None, "state": "NOT_SUBMITTED (dry run)", "job": request}
    job.submit(service_account=service_account, network=network)
    return {"name": job.resource_name, "state": job.state.name if job.state else None, "job": job.to_dict()}
