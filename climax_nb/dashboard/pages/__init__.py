"""Scripts that ``panel serve`` runs once per browser session (the URL is the script's name)."""
