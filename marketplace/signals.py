"""What commerce tells the apps above it (the catalog's analytics); commerce never asks them."""

from django.dispatch import Signal

# A buyer placed ``order`` from the storefront (``request``): the catalog counts the purchases.
order_placed = Signal()
