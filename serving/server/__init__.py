"""The TF-Serving-compatible model server (REST + gRPC) and its start command."""
