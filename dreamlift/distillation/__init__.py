"""What both stages of a run share: the distillation loop (steps, checkpoints, resume, rollback),
the draws of each step's cameras, lights and shading, and the reference-view losses of image runs.

Stage 1 (:mod:`dreamlift.training`) and stage 2 (:mod:`dreamlift.refine`) build on this package;
it imports neither.
"""
