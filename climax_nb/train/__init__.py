"""Training: losses, optimisers and Lightning modules."""
