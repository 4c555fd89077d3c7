"""A TF1 SavedModel for the serving tests (the contract model is serving/tools/contract_model.py).

`write_tf1_classify_regress_model` is a TF1 graph (tf.compat.v1 SavedModelBuilder) with classify,
regress and predict signatures over a float feature "x".
"""
import os
import shutil
import tempfile



def write_tf1_classify_regress_model(export_dir: str) -> str:
    """TF1 SavedModel: classify (classes "neg"/"pos", scores), regress (2x+1), predict (y=2x+1, sign)."""
    import tensorflow as tf
    v1 = tf.compat.v1
    tmp = tempfile.mkdtemp(prefix=".tmp-", dir=os.path.dirname(os.path.abspath(export_dir)))
    shutil.rmtree(tmp)
    graph = tf.Graph()
    with graph.as_default():
        serialized = v1.placeholder(tf.string, [None], name="tf_example")
        parsed = v1.io.parse_example(serialized, {"x": v1.io.FixedLenFeature([1], tf.float32)})
        x = parsed["x"]
        y = 2.0 * x + 1.0
        p = tf.sigmoid(x)
        scores = tf.concat([1.0 - p, p], axis=1)
        classes = tf.tile(tf.constant([["neg", "pos"]]), [tf.shape(x)[0], 1])
        x_raw = v1.placeholder(tf.float32, [None, 1], name="x")
        y_raw = tf.identity(2.0 * x_raw + 1.0, name="y")
        sign = tf.where(x_raw[:, 0] >= 0.0, "pos", "neg")
        with v1.Session(graph=graph) as sess:
            builder = v1.saved_model.Builder(tmp)
            builder.add_meta_graph_and_variables(sess, ["serve"], signature_def_map={
                "classify_x": v1.saved_model.classification_signature_def(serialized, classes, scores),
                "regress_x": v1.saved_model.regression_signature_def(serialized, y),
                "serving_default": v1.saved_model.predict_signature_def({"x": x_raw}, {"y": y_raw, "sign": sign}),
            })
            builder.save()
    os.rename(tmp, export_dir)
    return export_dir
