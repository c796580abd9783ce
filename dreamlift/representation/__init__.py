"""Stage 1's representation, chosen in the config as the prior is (``representation.name``).

:mod:`~dreamlift.representation.settings` holds the typed configs (no torch);
:mod:`~dreamlift.representation.base` the :class:`~dreamlift.representation.base.Representation`
protocol the trainer works through; :mod:`~dreamlift.representation.nerf` and
:mod:`~dreamlift.representation.gaussians` the two representations.
"""
