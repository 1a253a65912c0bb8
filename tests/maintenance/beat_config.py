"""Celery configuration read by the beat processes of ``test_beat`` (``CELERY_CONFIG_MODULE``).

A standby beat polls the RedBeat lock every ``beat_max_loop_interval`` seconds (300 by default),
so with a 5 s lock it would take over minutes late. ``polis.worker`` should derive this from
``POLIS_BEAT_LOCK_TIMEOUT``; until it does, the test sets it here.
"""

beat_max_loop_interval = 1

# Until ``polis.worker.TASK_MODULES`` lists it, the worker of these tests imports it from here.
imports = ("polis.maintenance.tasks",)
