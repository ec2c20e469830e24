"""The `pos-client` command line: a thin shell over the same domain calls the app uses."""
