"""Suite-wide settings: one Keras for every process the tests start (see README, 'Keras')."""
import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
