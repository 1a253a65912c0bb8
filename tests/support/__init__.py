"""Stand-ins for external services, shared by the tests and the benchmarks."""
