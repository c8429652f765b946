"""What the audit and training both run on: devices and the process group, mixed precision,
and the progress protocol. Depends on torch and :mod:`ltrobust.errors` only."""
