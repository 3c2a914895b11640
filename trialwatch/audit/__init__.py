"""Transparency signals: where a trial stands against its obligations by the public record
(results probably due or overdue, a stale status, estimated dates in the past, verification
overdue, results in QC review, a late certification, a posted FDAAA 801 violation, an
implausible enrollment). ``rules`` decides whether a trial is a probable applicable clinical
trial and when its results are due; ``signals`` reads one record; ``transitions`` turns a
signal starting or stopping into an event for ``check``; ``render`` writes every format."""
