from hw_sim.cli import main

raise SystemExit(main())
