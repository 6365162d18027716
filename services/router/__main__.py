import sys

import structlog

from services.router.app import create_app
from shared.config_files import ConfigFileError

try:
    runtime, app = create_app()
except ConfigFileError as exc:
    # A bad agencies, rules or categories file: say which file, entry and field, and stop
    # (non-zero) before connecting to anything, so an orchestrator shows the reason.
    structlog.get_logger("router").error("invalid configuration file", error=str(exc),
                                         file=exc.path, entry=exc.entry, field=exc.field)
    print(f"router: invalid configuration: {exc}", file=sys.stderr)
    sys.exit(2)
runtime.run(app)
