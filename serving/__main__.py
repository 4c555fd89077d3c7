"""`python -m serving ...`: serve, predict, status, replay, labels, registry, rollout, proxy (see serving/cli.py)."""
import os

# TF's C++ log at FATAL only unless the caller says otherwise: on a machine without a GPU, importing TensorFlow logs
# three "Unable to register cuFFT/cuDNN/cuBLAS factory" lines at ERROR level, which say nothing about serving.
# The server's own errors are Python exceptions and reach stderr either way; TF_CPP_MIN_LOG_LEVEL=0 shows everything.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from serving.cli import main  # noqa: E402

if __name__ == "__main__":
    main()
