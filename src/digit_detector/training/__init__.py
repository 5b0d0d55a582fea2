"""Training: targets, loss, data loading, the Lightning module and the Hydra entry point."""
