"""Many runs: the batch runner on Ray (``rows`` reads a batch file, ``task`` runs one row, ``batch`` drives Ray, ``summary`` writes summary.csv and index.html)."""
