"""The verification suites, one module per concern; each exposes `build(expected, options) -> SuiteSpec`."""
