"""Datasets: what each partner provides to the gateway."""
