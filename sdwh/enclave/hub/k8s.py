"""The project gate and read-only extract mount for KubeSpawner (Zero-to-JupyterHub).

Loaded from ``hub.extraConfig`` in ``infra/jupyterhub/values.yaml``. Documented, not run here:
this machine has no Kubernetes. Network isolation comes from the chart's NetworkPolicy (all
egress rules off); the extracts live on one read-only volume, of which each server mounts only
its project's current extract.
"""

from __future__ import annotations

from datetime import date
from typing import Any

EXTRACTS_CLAIM = "sdwh-extracts"  # a PVC holding $SDWH_HOME/projects, mounted read-only
EXTRACT_MOUNT = "/home/jovyan/extract"


def extract_volume(project_id: str, extract_id: str) -> tuple[dict, dict]:
    """(volume, volume mount) that show one extract, read-only, at ~/extract."""
    volume = {"name": "extract",
              "persistentVolumeClaim": {"claimName": EXTRACTS_CLAIM, "readOnly": True}}
    mount = {"name": "extract", "mountPath": EXTRACT_MOUNT, "readOnly": True,
             "subPath": f"projects/{project_id}/extracts/{extract_id}"}
    return volume, mount


def configure_kubespawner(c: Any, settings: Any = None) -> None:
    """Set the pre-spawn hook that refuses other servers and mounts the project's extract."""
    from jupyterhub.spawner import SpawnException

    from sdwh.config import get_settings
    from sdwh.enclave.hub.spawner import Refusal, project_gate

    settings = settings or get_settings()

    def hook(spawner: Any) -> None:
        try:
            project, extract = project_gate(settings, spawner.user.name, spawner.name,
                                            date.today())
        except Refusal as refusal:
            raise SpawnException(refusal.message, reason=refusal.reason,
                                 status_code=refusal.status) from None
        volume, mount = extract_volume(project.id, extract.name)
        spawner.volumes = [v for v in spawner.volumes if v.get("name") != "extract"] + [volume]
        spawner.volume_mounts = [m for m in spawner.volume_mounts
                                 if m.get("name") != "extract"] + [mount]
        spawner.environment.update({"SDWH_PROJECT_ID": project.id,
                                    "SDWH_PROJECT_EXTRACT": EXTRACT_MOUNT})

    c.KubeSpawner.pre_spawn_hook = hook
