"""The pages of the systems that hold personal data (issues 16 and 17).

- ``systems`` (``views``): a manual system's owner answers a collection; the professional in charge reviews the
  shared health content collected for their patient; the DPO runs a failed collection again; the back-office
  collection panel (template globals);
- ``execution_owner`` (``owner_execution``): a manual system's owner confirms an execution.

The work itself is in ``dsar.systems``.
"""
from .owner_execution import bp as execution_owner_bp
from .views import bp

__all__ = ["bp", "execution_owner_bp"]
