"""Commerce fixtures for these tests (see ``marketplace.tests.fixtures``)."""

from marketplace.tests.fixtures import *  # noqa: F403
