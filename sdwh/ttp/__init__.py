"""Trusted Third Party: national numbers checked and replaced by keyed pseudonyms."""
