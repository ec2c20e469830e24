"""The till's Textual app. Importing this package imports nothing heavy: `run.run_app` does."""
