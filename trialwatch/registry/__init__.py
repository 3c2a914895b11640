"""Everything that talks to the registry: the API client, retries and NCT ids."""
