"""What every entry point shares: logging on screen, and user mistakes as one message and an exit code."""

import logging
import os
from collections.abc import Callable

from src.errors import UserError
from src.publish import PublishError

logger = logging.getLogger("cli")

EXIT_USER_ERROR = 2  # bad input: the message says what to fix
EXIT_PUBLISH_CHECK_FAILED = 1  # the model was pushed but does not load back as it should


def run_command(command: Callable[[], int]) -> int:
    """Run `command` with logging set up; user mistakes print one line, not a traceback."""
    rank = os.environ.get("RANK")  # set by torchrun / accelerate launch: say which process speaks
    where = f" [rank {rank}]" if rank is not None else ""
    logging.basicConfig(format=f"%(asctime)s{where} %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S", level=logging.INFO)
    try:
        return command()
    except UserError as err:
        logger.error("%s", err)
        return EXIT_USER_ERROR
    except PublishError as err:
        logger.error("Published, but the check failed: %s", err)
        return EXIT_PUBLISH_CHECK_FAILED
