"""Standard products for policy services: catalogue, cubes, table builder, guarded SQL, API."""
