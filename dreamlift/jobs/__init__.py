"""Many runs.

The batch runner on Ray: ``rows`` reads a batch file, ``task`` runs one row, ``batch``
drives Ray, ``summary`` writes summary.csv and index.html. The app's persistent job
queue: ``queue`` (SQLite), ``spec`` (what a job runs), ``progress`` (how far it got)
and ``worker`` (the process that runs it).
"""
