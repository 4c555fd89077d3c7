"""The model code the Trainer loads."""
