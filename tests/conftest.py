import os

# Tests must see the library leave JAX's global settings alone, so nothing here
# sets them; only keep hypothesis quick and deterministic on CI.
from hypothesis import settings

settings.register_profile("ci", max_examples=60, deadline=None, derandomize=True)
settings.register_profile("dev", max_examples=60, deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")
