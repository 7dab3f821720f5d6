"""Suite-wide settings: hypothesis profiles (`make fuzz` selects the long one)."""

import os

from hypothesis import settings

# quick enough for every `make test`, still hundreds of malformed requests per endpoint
settings.register_profile("default", max_examples=60, deadline=None)
# `make fuzz`: a bounded long run
settings.register_profile("fuzz", max_examples=4000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
