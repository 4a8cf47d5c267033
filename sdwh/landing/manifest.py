"""The manifest that travels with every delivery (``manifest.json`` in the delivery folder)."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError

from sdwh.errors import DeliveryRejected
from sdwh.landing.contracts import Unit

MANIFEST_NAME = "manifest.json"


class DeliveredFile(BaseModel):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", description="File name inside the folder.")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    rows: int = Field(ge=0, description="Data rows, header excluded.")


class Manifest(BaseModel):
    """What a supplier declares about one delivery."""

    supplier: str
    dataset: str
    reference_period: str
    revision: int = Field(1, ge=1, description="1 for the first delivery; higher replaces it.")
    sent_at: datetime
    files: list[DeliveredFile] = Field(min_length=1)
    units: dict[str, Unit] = Field(default_factory=dict, description="Overrides of amount units.")
    note: str = ""

    @property
    def folder_name(self) -> str:
        return f"{self.supplier}__{self.dataset}__{self.reference_period}__r{self.revision}"

    def dump(self) -> str:
        return json.dumps(self.model_dump(mode="json"), indent=2, sort_keys=True) + "\n"


def read_manifest(folder: Path) -> Manifest:
    """Read and check a delivery's manifest; a missing or malformed one rejects the delivery."""
    path = folder / MANIFEST_NAME
    if not path.is_file():
        raise DeliveryRejected(str(path), "manifest_missing", "the delivery has no manifest.json",
                               "Every delivery folder needs a manifest.json next to its data.")
    try:
        return Manifest.model_validate_json(path.read_bytes())
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise DeliveryRejected(str(path), "manifest_invalid",
                               f"manifest field '{where}' is invalid: {first['msg']}",
                               "Fix the manifest as the supplier contract describes.") from None


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def delivery_id(manifest: Manifest) -> str:
    """Content address of a delivery: the hash of its canonical manifest, which names the
    sha256 of every file, so the same delivery sent twice gets the same id."""
    return hashlib.sha256(manifest.dump().encode()).hexdigest()[:16]
