"""Curated schema artifact (schema.pbtxt); a package only so that installs ship the file."""
