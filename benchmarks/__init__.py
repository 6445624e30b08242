"""`make bench`: factflow's throughput benchmark (`python -m benchmarks.run`); see docs/performance.md."""
