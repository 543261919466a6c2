"""Loaded by ``rq cron dsar.jobs.cron_config``: registers the periodic jobs of ``schedule.PERIODIC``."""
import os

from .schedule import register_with_rq_cron

register_with_rq_cron(os.environ.get("DSAR_QUEUE", "dsar"))
