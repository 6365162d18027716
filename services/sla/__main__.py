"""`python -m services.sla`: a bad configuration file stops it at once with exit code 2."""

import sys

from shared.config_files import ConfigFileError

try:
    from services.sla.app import create_app

    runtime, app = create_app()
except ConfigFileError as exc:
    print(f"sla: cannot start, bad configuration: {exc}", file=sys.stderr)
    sys.exit(2)
runtime.run(app)
