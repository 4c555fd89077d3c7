"""`python -m serving ...`: serve, predict, status, labels, registry, rollout, proxy (see serving/cli.py)."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from serving.cli import main  # noqa: E402

if __name__ == "__main__":
    main()
