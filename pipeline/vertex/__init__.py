"""Vertex Pipelines: compile the one `create_pipeline` (compile), check an image has what the spec runs
(check_image), submit through the Vertex AI SDK (submit), run a compiled spec here task by task as
Vertex's launcher would (launcher); `python -m pipeline vertex ...` (cli)."""
