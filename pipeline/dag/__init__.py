"""The DAG: create_pipeline, its configs and resolvers."""
