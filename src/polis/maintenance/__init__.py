"""Scheduled housekeeping (DESIGN.md §3.8 retention, §3.9 daily and weekly jobs).

- notification retention purge (daily): read notifications after 90 days, unread after a year;
- inactive cleanup (weekly): accounts never onboarded after 30 days are anonymised, dead
  sessions (expired or revoked long ago) are deleted with their refresh tokens;
- the daily member activity report, stored in ``activity_reports`` and listed to admins.

Every job works in bounded batches (a run never holds a long transaction or an unbounded
amount of work; what is left is done by the next run) and is idempotent.
"""
