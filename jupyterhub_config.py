"""The enclave's JupyterHub: password + TOTP login, one sandboxed server per active project.

Start it with ``sdwh serve hub`` (as root, on 127.0.0.1:8000 by default). The settings are the
``SDWH_HUB_*`` variables in docs/configuration.md; the code is in ``sdwh/enclave/hub/``.
In secure mode (the default) this file raises, and the hub does not start, when an isolation
feature cannot run on this machine.
"""

from sdwh.enclave.hub.config import configure

configure(get_config())  # noqa: F821 (get_config is provided by JupyterHub)
