"""Every knob of the flight-delay pipeline, in one place (TFX taxi template style).

`create_pipeline` passes these to the generic components under components/, which know nothing about
flights. Column names, signatures and the model name come from the leaf contract, data/contract.py.
"""
from data import contract

PIPELINE_NAME = "flight-delay"
MODEL_NAME = contract.MODEL_NAME

# ---- Evaluator (TFMA) gates ---------------------------------------------------------------------
MIN_AUC = 0.60          # absolute floor of the candidate's overall AUC
MAX_AUC_DROP = 0.01     # allowed AUC drop vs the baseline model

# ---- DriftValidator (components/drift_validator) ------------------------------------------------

# ---- BehaviorValidator (components/behavior_validator) ------------------------------------------

# ---- LocalInfraValidator (components/infra_validator) -------------------------------------------
