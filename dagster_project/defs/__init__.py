"""The ``dg`` defs folder: each subfolder's ``defs.yaml`` declares a component (see ``component.py``)."""
