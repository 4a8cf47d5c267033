"""The hub side of the enclave: everything that runs as root, outside the researcher's account.

* :mod:`.passwords`, :mod:`.totp`, :mod:`.accounts` — the two login factors and enrolment;
* :mod:`.authenticator` — the JupyterHub authenticator (password + TOTP) and enrolment pages;
* :mod:`.isolation` — network and mount namespaces for single-user servers;
* :mod:`.spawner` — one named server per active project, under the researcher's own uid;
* :mod:`.filtering` and :mod:`.proxy` — the public entry point, which denies file and
  download routes, checks who is asking and keeps a byte budget per session;
* :mod:`.inserver` — the (weaker) in-server layer, loaded fail-closed by the server's CLI;
* :mod:`.config` — puts it together for ``jupyterhub_config.py``.

Only :mod:`.inserver` is imported inside the researcher's server; it needs jupyter_server alone.
"""
