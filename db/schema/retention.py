"""What the master file declares about retention, as the planner, the enforcement and health read it.

The windows live in `public.retention_windows()` (one VALUES list: table, interval), so that every
mode has them; each table's rows age by TIME_COLUMN. One place, below db/plan and db/deploy, so that
neither imports the other for these names.
"""

from __future__ import annotations

# Both event tables are partitioned on this column (the master file's create_hypertable calls).
TIME_COLUMN = "event_time"
WINDOWS_FUNCTION = "public.retention_windows()"
DECLARED_SQL = "SELECT to_regprocedure('public.retention_windows()') IS NOT NULL"
