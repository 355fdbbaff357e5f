"""Trainees' lab servers: make the extensions next to this file importable.

(The server reads this file and ``jupyter_server_config.json``, which enables them.)
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "extensions"))
