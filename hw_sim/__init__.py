"""Hardware simulators used by the demo and the tests."""
