"""Development infrastructure: real Kafka-protocol, MongoDB-protocol and SMTP servers started
from PyPI packages on free loopback ports (used by `make demo`, the test fixtures and benchmarks).

Not used in production, where Apache Kafka and MongoDB run as their own services.
"""

from .launcher import LocalInfra, ServerProcess, free_port

__all__ = ["LocalInfra", "ServerProcess", "free_port"]
