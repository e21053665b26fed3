import os

from hypothesis import settings

# Numba compiles on first call, so no per-example deadline; keep example counts modest.
settings.register_profile("tinycnn", deadline=None, max_examples=25, derandomize=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "tinycnn"))
