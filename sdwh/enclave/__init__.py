"""The researcher side of the enclave: ``from sdwh.enclave import project``."""

__all__ = ["project"]
