"""`riskwall run` with a fault injected inside the firewall, for the test that a crash blocks.

The real CLI and proxy run unchanged; only the engine's planning step is replaced by one that raises, the
way a bug in a rule would. No switch for this exists in the product.
"""

import sys

from riskwall import cli, engine


def _broken_plan(*args: object, **kwargs: object) -> object:
    raise RuntimeError("injected fault")


engine.plan = _broken_plan  # type: ignore[assignment]

if __name__ == "__main__":
    sys.exit(cli.main(sys.argv[1:]))
