"""Entry for people who compose their own mitmproxy: `mitmdump -s addons/riskwall_addon.py`.

Options: --set riskwall_policy=policies/ --set riskwall_state=memory:// --set riskwall_venue_hosts=VENUE=HOST.
Do not rely on mitmproxy's script hot-reload for safety: a reload that fails leaves no addon loaded and
traffic unfiltered. `riskwall run` has no script loader for that reason.
"""

import os
import sys

# the package lives beside this file; make it importable when mitmdump loads this script by path
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from riskwall import logs
from riskwall.addon import RiskFirewall

logs.configure()
addons = [RiskFirewall()]
