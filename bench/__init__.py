"""The benchmark beside the product: `python -m bench` from the repository root (what `make bench` runs)."""
