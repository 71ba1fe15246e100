"""Multilingual knowledge distillation; being split into modules (see ``parallel``)."""
from .parallel import *  # noqa: F401,F403
from .parallel import __doc__  # noqa: F401
