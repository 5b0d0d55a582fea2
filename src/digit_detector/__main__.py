from digit_detector.cli import main

raise SystemExit(main())
