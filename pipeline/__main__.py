"""`python -m pipeline ...`: see pipeline/cli.py."""
import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

from pipeline.cli import main  # noqa: E402

if __name__ == "__main__":
    main()
