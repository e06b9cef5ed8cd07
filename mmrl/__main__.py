"""``python -m mmrl ...`` (used by ``accelerate launch -m mmrl train CONFIG``)."""

import sys

from mmrl.cli import main

if __name__ == "__main__":
    sys.exit(main())
