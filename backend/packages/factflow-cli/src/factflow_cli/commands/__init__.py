"""Command groups of `factflow`, one module per group (`config`, later `execution`, `storage`, ...)."""
