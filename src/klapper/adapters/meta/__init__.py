"""What Facebook, Instagram and Threads share: Meta's Graph API conventions (not a platform).

``graph.py`` is the HTTP call (timeouts, cursor pagination, ``?ids=`` batches), ``errors.py``
the one translation of Graph API error codes into klapper's errors, ``login.py`` the OAuth code
flow with the person's own Meta app and the exchange for a long-lived (60-day) token. The
platforms built on it (``adapters/facebook``, ``adapters/instagram``, ``adapters/threads``) each
describe themselves; this package has no ``PLATFORM``.
"""

from __future__ import annotations

#: where the Graph API and Facebook Login live; accounts override them only in tests
GRAPH_BASE = "https://graph.facebook.com"
OAUTH_BASE = "https://www.facebook.com"
#: the Graph API version sent unless an account names its own (``graph_version``); Meta
#: supports each version for at least two years after its release
GRAPH_VERSION = "v23.0"
#: ids one ``GET /?ids=`` request may name (Graph API, "Multiple ID read requests")
IDS_PER_REQUEST = 50
