"""The warehouse stage: run the dbt project (raw → integrated → thematic → publication)."""
