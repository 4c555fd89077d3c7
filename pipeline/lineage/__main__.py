"""`python -m pipeline.lineage ...`: see pipeline/lineage/cli.py."""
from pipeline.lineage.cli import main

if __name__ == "__main__":
    main()
