"""The action server's thin actions: read slots and entities, ask the core, render."""

from priorauth.logfilter import install as _mask_phi_in_logs

# Member ids and dates of birth are masked in every log record of the action server (SECURITY.md).
_mask_phi_in_logs()
