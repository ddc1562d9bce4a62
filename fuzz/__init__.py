"""Fuzzing campaigns: HypoFuzz over the suite's property-based and stateful tests
(fuzz.campaign) and atheris over the byte-level parsers (fuzz.bytes)."""
