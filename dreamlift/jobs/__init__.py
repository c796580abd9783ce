"""Many runs: the app's persistent job queue (:mod:`~dreamlift.jobs.queue`), what a job runs
(:mod:`~dreamlift.jobs.spec`), how far it got (:mod:`~dreamlift.jobs.progress`) and the
worker process that runs it (:mod:`~dreamlift.jobs.worker`)."""
