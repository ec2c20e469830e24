"""`python -m pos_client` is the same as `pos-client`."""

from pos_client.cli.main import main

raise SystemExit(main())
