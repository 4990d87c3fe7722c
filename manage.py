#!/usr/bin/env python
import os
import sys


def main() -> None:
    if sys.argv[1:2] == ["makemigrations"]:
        # Writing or checking migrations needs no secrets: the test settings bring throwaway
        # ones (the real settings refuse to start without them unless DEBUG is on).
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fmugateway.settings_test")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fmugateway.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
