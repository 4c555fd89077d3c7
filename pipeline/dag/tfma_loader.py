"""The Evaluator's model loader (its `module_path`): TFMA's default, after registering the custom ops
the SavedModel needs (TF-DF's for a gradient-boosted model; nothing for a Keras model), in the
executor and in every Beam worker that loads the model."""
import functools

from serving.server import custom_ops


def _construct(model_path: str, construct_fn):
    custom_ops.ensure_ops(model_path)
    return construct_fn()


def custom_eval_shared_model(eval_saved_model_path, model_name, eval_config, **kwargs):
    """TFX Evaluator hook: tfma.default_eval_shared_model whose loader runs `custom_ops.ensure_ops`."""
    import tensorflow_model_analysis as tfma
    shared = tfma.default_eval_shared_model(eval_saved_model_path=eval_saved_model_path, model_name=model_name,
                                            eval_config=eval_config, **kwargs)
    loader = shared.model_loader
    return shared._replace(model_loader=tfma.types.ModelLoader(
        construct_fn=functools.partial(_construct, eval_saved_model_path, loader.construct_fn), tags=loader.tags))
