"""imgpipe: operator CLI and local AWS engine. Never shipped to Lambda (see imgpipe_core)."""
