"""Formerly loaded by ``rq cron dsar.jobs.cron_config``. Use ``dsar scheduler``: it holds a lock, so that however many
are started only one schedules the periodic jobs (``rq cron`` has none: two of them ran every job twice)."""
raise SystemExit("dsar: run 'dsar scheduler' instead of 'rq cron dsar.jobs.cron_config' (only one scheduler may run; "
                 "'dsar scheduler' enforces it with a Redis lock)")
