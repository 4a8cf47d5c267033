"""The airlock: export requests from the enclave, automatic SDC checks, blinded review, release."""
